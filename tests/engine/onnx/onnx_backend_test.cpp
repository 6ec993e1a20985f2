// OnnxBackend against the real MiniLM: every weight source and load path gives the reference
// embeddings; bad requests and bad models give errors naming what is wrong.
#include "engine/onnx/onnx_backend.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/onnx/onnx_optimize.h"
#include "minilm_fixture.h"

namespace thaw::engine {
namespace {

using thaw::engine::testing::cosine;
using thaw::engine::testing::encode;
using thaw::engine::testing::load_reference;
using thaw::engine::testing::MappedFile;
using thaw::engine::testing::minilm_dir;
using thaw::engine::testing::read_file;
using thaw::engine::testing::ReferenceSentence;

constexpr double kMinCosine = 0.9999;

// One process-wide environment, weights and converted graphs for all tests.
class MiniLm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto env = OrtEnvironment::create(OrtLogLevel::kError);
    ASSERT_TRUE(env.is_ok()) << env.status().to_string();
    env_ = std::move(env).value().release();
    graph_ = new std::string(read_file(minilm_dir() + "/graph.onnx"));
    data_ = new MappedFile(minilm_dir() + "/thaw.data");
    reference_ = new std::vector<ReferenceSentence>(load_reference());
  }
  static void TearDownTestSuite() {
    delete reference_;
    delete data_;
    delete graph_;
    delete env_;
  }

  static void expect_reference(Backend& backend) {
    for (size_t i = 0; i < reference_->size(); ++i) {
      auto request = encode((*reference_)[i]);
      auto out = backend.infer(request.tensors, {});
      ASSERT_TRUE(out.is_ok()) << out.status().to_string();
      ASSERT_EQ(out->size(), 1u);
      const OutputTensor& emb = (*out)[0];
      EXPECT_EQ(emb.name, "sentence_embedding");
      EXPECT_EQ(emb.dtype, DType::kF32);
      EXPECT_EQ(emb.shape, (std::vector<int64_t>{1, 384}));
      EXPECT_GE(cosine(emb.data, (*reference_)[i].embedding), kMinCosine) << "sentence " << i;
    }
  }

  static OrtEnvironment* env_;
  static std::string* graph_;
  static MappedFile* data_;
  static std::vector<ReferenceSentence>* reference_;
};
OrtEnvironment* MiniLm::env_ = nullptr;
std::string* MiniLm::graph_ = nullptr;
MappedFile* MiniLm::data_ = nullptr;
std::vector<ReferenceSentence>* MiniLm::reference_ = nullptr;

TEST_F(MiniLm, VersionIsTheLoadedLibrarys) {
  const std::string v = OrtEnvironment::version();
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.find_first_not_of("0123456789."), std::string::npos) << v;
  EXPECT_NE(v.find('.'), std::string::npos) << v;
}

TEST_F(MiniLm, SignatureComesFromTheSession) {
  auto backend = OnnxBackend::create(*env_, *graph_, data_->bytes());
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  const ModelSignature& sig = (*backend)->signature();
  ASSERT_EQ(sig.inputs.size(), 3u);
  for (const TensorSpec& in : sig.inputs) {
    EXPECT_EQ(in.dtype, DType::kI64) << in.name;
    EXPECT_EQ(in.shape.size(), 2u) << in.name;
  }
  EXPECT_EQ(sig.inputs[0].name, "input_ids");
  ASSERT_EQ(sig.outputs.size(), 1u);
  EXPECT_EQ(sig.outputs[0].name, "sentence_embedding");
  EXPECT_EQ(sig.outputs[0].dtype, DType::kF32);
  ASSERT_EQ(sig.outputs[0].shape.size(), 2u);
  EXPECT_EQ(sig.outputs[0].shape[1], 384);
}

TEST_F(MiniLm, FilesInMemoryMatchesReference) {
  auto backend = OnnxBackend::create(*env_, *graph_, data_->bytes());
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  expect_reference(**backend);
}

TEST_F(MiniLm, InitializerValuesMatchReference) {
  OnnxOptions o;
  o.weights = WeightSource::kInitializerValues;
  o.optimization = GraphOptimization::kAll;
  auto backend = OnnxBackend::create(*env_, *graph_, data_->bytes(), o);
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  expect_reference(**backend);
}

TEST_F(MiniLm, PrepackedWeightsMatchReference) {
  OnnxOptions o;
  o.prepack_weights = true;
  o.cpu_arena = false;
  auto backend = OnnxBackend::create(*env_, *graph_, data_->bytes(), o);
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  expect_reference(**backend);
}

TEST_F(MiniLm, PackOptimisedGraphMatchesReference) {
  for (GraphOptimization level : {GraphOptimization::kExtended, GraphOptimization::kAll}) {
    OptimizeOptions oo;
    oo.level = level;
    auto opt = optimize_for_bundle(*env_, *graph_, data_->bytes(), oo);
    ASSERT_TRUE(opt.is_ok()) << opt.status().to_string();
    EXPECT_FALSE(opt->graph.empty());
    EXPECT_GT(opt->data.size(), 80u << 20);  // the weights stay outside the graph
    EXPECT_LT(opt->graph.size(), 1u << 20);
    for (WeightSource source : {WeightSource::kFilesInMemory, WeightSource::kInitializerValues}) {
      OnnxOptions o;
      o.weights = source;
      auto backend = OnnxBackend::create(*env_, opt->graph, opt->data, o);
      ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
      expect_reference(**backend);
    }
  }
}

TEST_F(MiniLm, OrtFormatMatchesReferenceInPlaceAndCopied) {
  auto ort = convert_to_ort_format(*env_, *graph_, data_->bytes());
  ASSERT_TRUE(ort.is_ok()) << ort.status().to_string();
  // Page-aligned like a bundle file entry, and released only after the session.
  std::vector<std::byte> aligned(ort->size() + 4096);
  auto* base = reinterpret_cast<std::byte*>((reinterpret_cast<uintptr_t>(aligned.data()) + 4095) & ~uintptr_t{4095});
  std::memcpy(base, ort->data(), ort->size());
  for (bool in_place : {true, false}) {
    auto backend = OnnxBackend::create_from_ort_format(*env_, {base, ort->size()}, in_place);
    ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
    expect_reference(**backend);
  }
}

// Several threads share one backend; every answer must still match the reference.
void expect_correct_from_threads(Backend& b, const std::vector<ReferenceSentence>& reference) {
  constexpr int kThreads = 4, kRounds = 5;
  std::vector<std::vector<double>> cosines(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        const auto& s = reference[(t + r) % reference.size()];
        auto request = encode(s);
        auto out = b.infer(request.tensors, {});
        cosines[t].push_back(out.is_ok() ? cosine((*out)[0].data, s.embedding) : -1.0);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(cosines[t].size(), size_t{kRounds});
    for (double c : cosines[t]) EXPECT_GE(c, kMinCosine) << "thread " << t;
  }
}

TEST_F(MiniLm, InferFromSeveralThreads) {
  auto backend = OnnxBackend::create(*env_, *graph_, data_->bytes());
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  expect_correct_from_threads(**backend, *reference_);
}

TEST_F(MiniLm, OrtFormatInPlaceFromSeveralThreads) {
  auto ort = convert_to_ort_format(*env_, *graph_, data_->bytes());
  ASSERT_TRUE(ort.is_ok()) << ort.status().to_string();
  auto backend = OnnxBackend::create_from_ort_format(
      *env_, {reinterpret_cast<const std::byte*>(ort->data()), ort->size()}, true);
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  expect_correct_from_threads(**backend, *reference_);
}

TEST_F(MiniLm, TruncatedOrtFormatIsAnError) {
  auto ort = convert_to_ort_format(*env_, *graph_, data_->bytes());
  ASSERT_TRUE(ort.is_ok()) << ort.status().to_string();
  for (size_t keep : {size_t{16}, ort->size() / 2, ort->size() - 4096}) {
    auto backend = OnnxBackend::create_from_ort_format(
        *env_, {reinterpret_cast<const std::byte*>(ort->data()), keep}, true);
    EXPECT_FALSE(backend.is_ok()) << keep << " bytes";
  }
}

// Request validation -------------------------------------------------------------------------

class MiniLmRequests : public MiniLm {
 protected:
  void SetUp() override {
    auto backend = OnnxBackend::create(*env_, *graph_, data_->bytes());
    ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
    backend_ = std::move(backend).value();
    request_ = encode((*reference_)[0]);
  }
  // Expects kInvalidArgument with `needle` in the message.
  void expect_rejected(std::span<const InputTensor> inputs, const std::string& needle,
                       std::span<const std::string> outputs = {}) {
    auto out = backend_->infer(inputs, outputs);
    ASSERT_FALSE(out.is_ok());
    EXPECT_EQ(out.status().code(), Code::kInvalidArgument) << out.status().to_string();
    EXPECT_NE(out.status().message().find(needle), std::string::npos) << out.status().to_string();
  }
  std::unique_ptr<Backend> backend_;
  testing::EncodedRequest request_;
};

TEST_F(MiniLmRequests, WrongDtypeNamesTheTensor) {
  std::vector<int32_t> ids32(request_.ids.begin(), request_.ids.end());
  request_.tensors[0].dtype = DType::kI32;
  request_.tensors[0].data = {reinterpret_cast<const std::byte*>(ids32.data()), ids32.size() * 4};
  expect_rejected(request_.tensors, "'input_ids'");
}

TEST_F(MiniLmRequests, WrongRankNamesTheTensor) {
  request_.tensors[1].shape = {static_cast<int64_t>(request_.mask.size())};
  expect_rejected(request_.tensors, "'attention_mask'");
}

TEST_F(MiniLmRequests, MissingInputIsNamed) {
  request_.tensors.pop_back();
  expect_rejected(request_.tensors, "'token_type_ids'");
}

TEST_F(MiniLmRequests, UnknownInputIsNamed) {
  request_.tensors[2].name = "segment_ids";
  expect_rejected(request_.tensors, "'segment_ids'");
}

TEST_F(MiniLmRequests, DuplicateInputIsNamed) {
  request_.tensors[2] = request_.tensors[0];
  expect_rejected(request_.tensors, "'input_ids'");
}

TEST_F(MiniLmRequests, ByteCountMustMatchShape) {
  request_.tensors[0].data = request_.tensors[0].data.first(request_.tensors[0].data.size() - 8);
  expect_rejected(request_.tensors, "'input_ids'");
}

TEST_F(MiniLmRequests, NegativeDimensionIsRejected) {
  request_.tensors[0].shape = {-1, static_cast<int64_t>(request_.ids.size())};
  expect_rejected(request_.tensors, "'input_ids'");
}

TEST_F(MiniLmRequests, MismatchedSequenceLengthsAreRejected) {
  // Each tensor is well-formed alone; the model itself rejects the mismatch.
  request_.mask.pop_back();
  request_.tensors[1].shape = {1, static_cast<int64_t>(request_.mask.size())};
  request_.tensors[1].data = {reinterpret_cast<const std::byte*>(request_.mask.data()), request_.mask.size() * 8};
  auto out = backend_->infer(request_.tensors, {});
  ASSERT_FALSE(out.is_ok());
}

TEST_F(MiniLmRequests, TokenIdOutsideTheVocabularyIsAnError) {
  request_.ids[1] = 1'000'000;
  auto out = backend_->infer(request_.tensors, {});
  ASSERT_FALSE(out.is_ok());
  EXPECT_EQ(out.status().code(), Code::kInvalidArgument) << out.status().to_string();
}

TEST_F(MiniLmRequests, UnknownOutputIsNamed) {
  std::vector<std::string> outputs = {"logits"};
  expect_rejected(request_.tensors, "'logits'", outputs);
}

TEST_F(MiniLmRequests, NamedOutputIsReturned) {
  std::vector<std::string> outputs = {"sentence_embedding"};
  auto out = backend_->infer(request_.tensors, outputs);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 1u);
  EXPECT_GE(cosine((*out)[0].data, (*reference_)[0].embedding), kMinCosine);
}

// Bad models ---------------------------------------------------------------------------------

TEST_F(MiniLm, EmptyGraphIsInvalid) {
  auto backend = OnnxBackend::create(*env_, "", data_->bytes());
  ASSERT_FALSE(backend.is_ok());
  EXPECT_EQ(backend.status().code(), Code::kInvalidArgument);
}

TEST_F(MiniLm, GarbageGraphIsAnError) {
  std::string garbage(4096, '\x7f');
  for (WeightSource source : {WeightSource::kFilesInMemory, WeightSource::kInitializerValues}) {
    OnnxOptions o;
    o.weights = source;
    auto backend = OnnxBackend::create(*env_, garbage, data_->bytes(), o);
    EXPECT_FALSE(backend.is_ok());
  }
}

TEST_F(MiniLm, TruncatedDataSectionIsAnError) {
  const auto half = data_->bytes().first(data_->bytes().size() / 2);
  for (WeightSource source : {WeightSource::kFilesInMemory, WeightSource::kInitializerValues}) {
    OnnxOptions o;
    o.weights = source;
    auto backend = OnnxBackend::create(*env_, *graph_, half, o);
    ASSERT_FALSE(backend.is_ok());
    // Either check names the first weight that does not fit.
    EXPECT_NE(backend.status().message().find("nitializer"), std::string::npos)
        << backend.status().to_string();
  }
}

TEST_F(MiniLm, GarbageOrtFormatIsAnError) {
  std::vector<std::byte> garbage(4096, std::byte{0x42});
  auto backend = OnnxBackend::create_from_ort_format(*env_, garbage, true);
  EXPECT_FALSE(backend.is_ok());
}

TEST_F(MiniLm, NegativeThreadCountIsInvalid) {
  OnnxOptions o;
  o.intra_op_threads = -1;
  auto backend = OnnxBackend::create(*env_, *graph_, data_->bytes(), o);
  ASSERT_FALSE(backend.is_ok());
  EXPECT_EQ(backend.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace thaw::engine
