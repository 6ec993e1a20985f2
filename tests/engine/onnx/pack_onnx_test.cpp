// Packing ONNX: every initializer storage form, the signature and default warm-up, and malformed
// models.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <map>

#include "../../bundle/pack_test_files.h"
#include "engine/onnx/bundle_files.h"
#include "engine/onnx/pack_onnx.h"

namespace thaw::engine {
namespace {

using bundle::BundleContents;
using bundle::PackedModel;
using bundle::TensorEntry;
using bundle::WriterFile;
using thaw::testing::as_string;
using thaw::testing::le_bytes;
using thaw::testing::TempDir;
using thaw::testing::write_file;

void add_input(onnx::GraphProto* g, const std::string& name, int elem, std::initializer_list<int64_t> dims) {
  auto* v = g->add_input();
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  for (int64_t d : dims) {
    auto* dim = tt->mutable_shape()->add_dim();
    if (d < 0) dim->set_dim_param("batch");
    else dim->set_dim_value(d);
  }
}

onnx::TensorProto* add_init(onnx::GraphProto* g, const std::string& name, int type, std::initializer_list<int64_t> dims) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (int64_t d : dims) t->add_dims(d);
  return t;
}

// A model with one initializer in each storage form, and the bytes each must pack to.
struct OnnxFixture {
  onnx::ModelProto model;
  std::map<std::string, std::string> expected;

  explicit OnnxFixture(const TempDir& dir) {
    model.set_ir_version(8);
    model.set_producer_name("test");
    auto* g = model.mutable_graph();
    g->set_name("g");
    add_input(g, "input_ids", onnx::TensorProto::INT64, {-1, -1});
    add_input(g, "attention_mask", onnx::TensorProto::INT64, {-1, -1});
    auto* out = g->add_output();
    out->set_name("y");
    out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);

    expected["raw"] = le_bytes<float>({1.f, 2.f, 3.f});
    add_init(g, "raw", onnx::TensorProto::FLOAT, {3})->set_raw_data(expected["raw"]);
    auto* f = add_init(g, "floats", onnx::TensorProto::FLOAT, {2, 2});
    for (float v : {0.5f, -1.f, 2.f, 4.f}) f->add_float_data(v);
    expected["floats"] = le_bytes<float>({0.5f, -1.f, 2.f, 4.f});
    auto* i = add_init(g, "int64s", onnx::TensorProto::INT64, {2});
    i->add_int64_data(-7);
    i->add_int64_data(1LL << 40);
    expected["int64s"] = le_bytes<int64_t>({-7, 1LL << 40});
    auto* h = add_init(g, "halves", onnx::TensorProto::FLOAT16, {2});
    h->add_int32_data(0x3c00);
    h->add_int32_data(0xc000);
    expected["halves"] = le_bytes<uint16_t>({0x3c00, 0xc000});
    auto* u = add_init(g, "u32", onnx::TensorProto::UINT32, {1});
    u->add_uint64_data(0xdeadbeef);
    expected["u32"] = le_bytes<uint32_t>({0xdeadbeef});
    auto* b = add_init(g, "flags", onnx::TensorProto::BOOL, {3});
    for (int v : {1, 0, 1}) b->add_int32_data(v);
    expected["flags"] = std::string("\1\0\1", 3);
    // External: 16 bytes of padding then the tensor, in a file beside the model.
    expected["external"] = le_bytes<double>({3.25, -8.5});
    write_file(dir.file("weights.bin"), std::string(16, 'p') + expected["external"] + "tail");
    auto* e = add_init(g, "external", onnx::TensorProto::DOUBLE, {2});
    e->set_data_location(onnx::TensorProto::EXTERNAL);
    for (auto [k, v] : {std::pair{"location", "weights.bin"}, {"offset", "16"}, {"length", "16"}}) {
      auto* kv = e->add_external_data();
      kv->set_key(k);
      kv->set_value(v);
    }
    add_init(g, "empty", onnx::TensorProto::FLOAT, {0, 4});
  }

  std::string save(const TempDir& dir, const std::string& name = "model.onnx") {
    std::string path = dir.file(name);
    write_file(path, model.SerializeAsString());
    return path;
  }
};

TEST(PackOnnx, EveryStorageFormBecomesATensorAndAnExternalReference) {
  TempDir dir;
  OnnxFixture fx(dir);
  auto packed = pack_onnx(fx.save(dir));
  ASSERT_TRUE(packed.is_ok()) << packed.status().to_string();
  const BundleContents& c = (*packed)->contents;
  EXPECT_EQ(c.backend, "onnx");
  ASSERT_EQ(c.tensors.size(), fx.expected.size()) << "the empty initializer stays inline";
  for (const auto& t : c.tensors) {
    ASSERT_TRUE(fx.expected.count(t.name)) << t.name;
    EXPECT_EQ(as_string(t.data), fx.expected[t.name]) << t.name;
  }

  // Write and reopen: each external reference points at its tensor's bytes in the data section.
  ASSERT_TRUE(bundle::write(dir.file("m.thaw"), c, {}).is_ok());
  auto r = bundle::Reader::open(dir.file("m.thaw"));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  auto graph_bytes = r->read_file(kOnnxGraphFile);
  ASSERT_TRUE(graph_bytes.is_ok());
  onnx::ModelProto g;
  ASSERT_TRUE(g.ParseFromString(*graph_bytes));
  int external = 0;
  for (const auto& init : g.graph().initializer()) {
    if (init.name() == "empty") {
      EXPECT_NE(init.data_location(), onnx::TensorProto::EXTERNAL);
      continue;
    }
    ASSERT_EQ(init.data_location(), onnx::TensorProto::EXTERNAL) << init.name();
    EXPECT_FALSE(init.has_raw_data());
    EXPECT_EQ(init.float_data_size() + init.int32_data_size() + init.int64_data_size() + init.double_data_size() +
                  init.uint64_data_size(), 0);
    std::map<std::string, std::string> kv;
    for (const auto& e : init.external_data()) kv[e.key()] = e.value();
    const TensorEntry* t = r->manifest().find_tensor(init.name());
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(kv["location"], "thaw.data");
    EXPECT_EQ(kv["offset"], std::to_string(t->offset));
    EXPECT_EQ(kv["length"], std::to_string(t->length));
    auto bytes = r->read_tensor(init.name());
    ASSERT_TRUE(bytes.is_ok());
    EXPECT_EQ(as_string(*bytes), fx.expected[init.name()]);
    ++external;
  }
  EXPECT_EQ(external, 7);
  EXPECT_EQ(g.producer_name(), "test");
  EXPECT_TRUE(r->verify().is_ok());
}

TEST(PackOnnx, SignatureAndDefaultBertWarmup) {
  TempDir dir;
  OnnxFixture fx(dir);
  auto packed = pack_onnx(fx.save(dir));
  ASSERT_TRUE(packed.is_ok()) << packed.status().to_string();
  const BundleContents& c = (*packed)->contents;
  const auto& sig = c.metadata["signature"];
  ASSERT_EQ(sig["inputs"].size(), 2u);
  EXPECT_EQ(sig["inputs"][0]["name"], "input_ids");
  EXPECT_EQ(sig["inputs"][0]["dtype"], "INT64");
  EXPECT_EQ(sig["inputs"][0]["shape"], nlohmann::json::parse("[-1, -1]"));
  EXPECT_EQ(sig["outputs"][0]["name"], "y");
  ASSERT_EQ(c.warmup.size(), 1u);
  ASSERT_EQ(c.warmup[0].inputs.size(), 2u);
  const auto& ids = c.warmup[0].inputs[0];
  EXPECT_EQ(ids.tensor_name, "input_ids");
  EXPECT_EQ(ids.shape, (std::vector<int64_t>{1, 16}));
  auto f = std::find_if(c.files.begin(), c.files.end(), [&](const WriterFile& wf) { return wf.name == ids.file; });
  ASSERT_NE(f, c.files.end());
  ASSERT_EQ(f->data.size(), 16u * 8);
  int64_t first = 0, last = 0;
  std::memcpy(&first, f->data.data(), 8);
  std::memcpy(&last, f->data.data() + 15 * 8, 8);
  EXPECT_EQ(first, 101);
  EXPECT_EQ(last, 102);
}

TEST(PackOnnx, NonBertGraphGetsNoDefaultWarmup) {
  TempDir dir;
  OnnxFixture fx(dir);
  fx.model.mutable_graph()->mutable_input(1)->set_name("pixel_values");
  auto packed = pack_onnx(fx.save(dir));
  ASSERT_TRUE(packed.is_ok());
  EXPECT_TRUE((*packed)->contents.warmup.empty());
}

// Expects pack_onnx to fail with `code` and a message holding `part`.
void expect_pack_error(const TempDir& dir, OnnxFixture& fx, Code code, std::string_view part) {
  auto packed = pack_onnx(fx.save(dir));
  ASSERT_FALSE(packed.is_ok());
  EXPECT_EQ(packed.status().code(), code) << packed.status().to_string();
  EXPECT_NE(packed.status().message().find(part), std::string::npos) << packed.status().to_string();
}

onnx::TensorProto* find_init(OnnxFixture& fx, const std::string& name) {
  for (auto& t : *fx.model.mutable_graph()->mutable_initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

void set_external(onnx::TensorProto* t, const std::string& key, const std::string& value) {
  for (auto& kv : *t->mutable_external_data())
    if (kv.key() == key) kv.set_value(value);
}

TEST(PackOnnx, BadInitializersAreNamed) {
  TempDir dir;
  {
    OnnxFixture fx(dir);
    find_init(fx, "raw")->set_raw_data("12345");
    expect_pack_error(dir, fx, Code::kInvalidArgument, "initializer 'raw' has 5 raw bytes");
  }
  {
    OnnxFixture fx(dir);
    find_init(fx, "floats")->add_float_data(1.f);
    expect_pack_error(dir, fx, Code::kInvalidArgument, "initializer 'floats': float_data has 5 values");
  }
  {
    OnnxFixture fx(dir);
    set_external(find_init(fx, "external"), "location", "../weights.bin");
    expect_pack_error(dir, fx, Code::kInvalidArgument, "leaves the model directory");
  }
  {
    OnnxFixture fx(dir);
    set_external(find_init(fx, "external"), "location", "/etc/passwd");
    expect_pack_error(dir, fx, Code::kInvalidArgument, "must be a relative path");
  }
  {
    OnnxFixture fx(dir);
    set_external(find_init(fx, "external"), "offset", "30");
    expect_pack_error(dir, fx, Code::kInvalidArgument, "initializer 'external': external data [30, +16) is past the end");
  }
  {
    OnnxFixture fx(dir);
    set_external(find_init(fx, "external"), "length", "8");
    expect_pack_error(dir, fx, Code::kInvalidArgument, "initializer 'external': external length 8");
  }
  {
    OnnxFixture fx(dir);
    set_external(find_init(fx, "external"), "offset", "-1");
    expect_pack_error(dir, fx, Code::kInvalidArgument, "offset '-1' is not a number");
  }
  {
    OnnxFixture fx(dir);
    set_external(find_init(fx, "external"), "location", "missing.bin");
    expect_pack_error(dir, fx, Code::kNotFound, "initializer 'external'");
  }
  {
    OnnxFixture fx(dir);
    add_init(fx.model.mutable_graph(), "words", onnx::TensorProto::STRING, {1})->add_string_data("x");
    expect_pack_error(dir, fx, Code::kUnsupported, "initializer 'words' has type BYTES");
  }
  {
    OnnxFixture fx(dir);
    find_init(fx, "int64s")->set_name("raw");
    expect_pack_error(dir, fx, Code::kInvalidArgument, "two initializers are named 'raw'");
  }
}

TEST(PackOnnx, NotAModel) {
  TempDir dir;
  write_file(dir.file("junk.onnx"), std::string("\xff\xff\xff\xff garbage", 12));
  auto r = pack_onnx(dir.file("junk.onnx"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("not a valid ONNX model"), std::string::npos) << r.status().to_string();
  auto missing = pack_onnx(dir.file("missing.onnx"));
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace thaw::engine
