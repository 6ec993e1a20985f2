#include "worker/work_limits.h"

#include <gtest/gtest.h>

namespace thaw::worker {
namespace {

WireTensor text(size_t n) {
  WireTensor t;
  t.name = "text";
  t.type = WireType{true, DType::kF32};
  t.shape = {static_cast<int64_t>(n)};
  t.strings.assign(n, "a");
  return t;
}

engine::InputTensor ids(int64_t batch, int64_t sequence) {
  return {"input_ids", DType::kI64, {batch, sequence}, {}};
}

TEST(WorkLimits, BatchOverTheBoundIsNamed) {
  WorkLimits l;
  l.max_batch = 4;
  std::vector<WireTensor> ok = {text(4)};
  EXPECT_TRUE(check_batch(ok, l).is_ok());
  std::vector<WireTensor> big = {text(5)};
  Status s = check_batch(big, l);
  EXPECT_EQ(s.code(), Code::kResourceExhausted);
  EXPECT_NE(s.message().find("max_batch=4"), std::string::npos) << s.message();
  WireTensor numbers;
  numbers.name = "x";
  numbers.shape = {9, 2};
  std::vector<WireTensor> numeric = {numbers};
  EXPECT_EQ(check_batch(numeric, l).code(), Code::kResourceExhausted);
}

TEST(WorkLimits, SequenceLongerThanThePositionsIsABadRequest) {
  WorkLimits l;
  l.max_positions = 512;
  std::vector<engine::InputTensor> fits = {ids(1, 512)};
  EXPECT_TRUE(check_tokens(fits, l).is_ok());
  std::vector<engine::InputTensor> longer = {ids(1, 513)};
  Status s = check_tokens(longer, l);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("max_positions=512"), std::string::npos) << s.message();
}

TEST(WorkLimits, TokensPerRequestCountBatchTimesSequence) {
  WorkLimits l;
  l.max_request_tokens = 1000;
  std::vector<engine::InputTensor> fits = {ids(10, 100)};
  EXPECT_TRUE(check_tokens(fits, l).is_ok());
  std::vector<engine::InputTensor> over = {ids(11, 100)};
  Status s = check_tokens(over, l);
  EXPECT_EQ(s.code(), Code::kResourceExhausted);
  EXPECT_NE(s.message().find("max_request_tokens=1000"), std::string::npos) << s.message();
  // Products that overflow 64 bits are still refused.
  std::vector<engine::InputTensor> huge = {ids(INT64_MAX / 2, 4)};
  EXPECT_EQ(check_tokens(huge, l).code(), Code::kResourceExhausted);
}

TEST(WorkLimits, AttentionCellsBoundLongSequencesMoreThanShortOnes) {
  WorkLimits l;
  l.max_request_tokens = 1 << 20;
  l.max_attention_cells = 8 * 512 * 512;
  std::vector<engine::InputTensor> short_rows = {ids(64, 100)};
  EXPECT_TRUE(check_tokens(short_rows, l).is_ok());
  std::vector<engine::InputTensor> long_rows = {ids(8, 512)};
  EXPECT_TRUE(check_tokens(long_rows, l).is_ok());
  std::vector<engine::InputTensor> more = {ids(9, 512)};
  Status s = check_tokens(more, l);
  EXPECT_EQ(s.code(), Code::kResourceExhausted);
  EXPECT_NE(s.message().find("max_attention_cells=2097152"), std::string::npos) << s.message();
}

TEST(WorkLimits, ResponseBoundAndLargeRequests) {
  WorkLimits l;
  l.max_response_bytes = 1000;
  EXPECT_TRUE(check_response_size(1000, l).is_ok());
  Status s = check_response_size(1001, l);
  EXPECT_EQ(s.code(), Code::kResourceExhausted);
  EXPECT_NE(s.message().find("max_response_bytes=1000"), std::string::npos);
  EXPECT_FALSE(is_large_request(100, 10, 100, l));
  EXPECT_TRUE(is_large_request(l.trim_after_bytes + 1, 0, 0, l));
  EXPECT_TRUE(is_large_request(0, l.max_request_tokens, 0, l));
}

TEST(EncodedSizeBound, CoversTheLongestEncodingOfEachType) {
  std::vector<float> values(100, -1.17549435e-38f);
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(values.data()),
                               reinterpret_cast<const std::byte*>(values.data() + values.size()));
  std::vector<int64_t> shape = {10, 10};
  OutputTensorView out{"y", WireType{false, DType::kF32}, shape, bytes, {}, false};
  std::vector<OutputTensorView> outs = {out};
  EncodedResponse enc = encode_infer_response("model", "1", "id", outs);
  EXPECT_LE(enc.body.size(), encoded_size_bound(outs));
  outs[0].binary = true;
  enc = encode_infer_response("model", "1", "id", outs);
  EXPECT_LE(enc.body.size(), encoded_size_bound(outs));
}

}  // namespace
}  // namespace thaw::worker
