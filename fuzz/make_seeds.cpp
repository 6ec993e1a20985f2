// Writes seed corpora: small valid bundles (every compression/shuffle mode, warm-up inputs, an
// empty bundle) into OUT_DIR/bundle_reader, and small safetensors files into OUT_DIR/safetensors.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "bundle/bundle.h"
#include "test_bundles.h"

int main(int argc, char** argv) {
  using namespace thaw;
  using namespace thaw::bundle;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = std::string(argv[1]) + "/bundle_reader";
  const std::string st_dir = std::string(argv[1]) + "/safetensors";
  std::filesystem::create_directories(dir);
  std::filesystem::create_directories(st_dir);
  auto write_st = [&](const std::string& name, const std::string& header, const std::string& data) {
    std::string bytes(8, '\0');
    uint64_t n = header.size();
    std::memcpy(bytes.data(), &n, 8);
    std::ofstream(st_dir + "/" + name, std::ios::binary) << bytes << header << data;
  };
  write_st("two.safetensors",
           R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
           R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]}})",
           std::string(20, '\1'));
  write_st("empty.safetensors", "{}", "");
  write_st("zero.safetensors", R"({"z":{"dtype":"I64","shape":[0,3],"data_offsets":[0,0]}})", "");
  testing::SampleModel s;
  s.storage.reserve(8);
  s.contents.name = "seed";
  s.add_tensor("w", DType::kF32, {16, 8}, testing::float_bytes(128, 1));
  s.add_tensor("b", DType::kF32, {8}, testing::float_bytes(8, 2));
  s.add_tensor("ids", DType::kI64, {2, 3}, testing::random_bytes(48, 3));
  s.add_tensor("none", DType::kF16, {0}, {});
  s.add_tensor("large", DType::kF32, {17000}, testing::float_bytes(17000, 4));  // its own chunk
  s.contents.files.push_back({"config.json", R"({"hidden": 8})"});
  s.contents.files.push_back({"warmup/0/x", std::string(16, '\1')});
  s.contents.warmup.push_back({{{"x", DType::kI64, {1, 2}, "warmup/0/x"}}});
  s.contents.metadata = {{"signature", {{"inputs", {{{"name", "x"}, {"dtype", "INT64"}, {"shape", {-1, 2}}}}}}}};
  struct Variant {
    const char* name;
    Compression c;
    bool shuffle;
  };
  int rc = 0;
  for (Variant v : {Variant{"plain", Compression::kNone, false}, Variant{"zstd", Compression::kZstd, false},
                    Variant{"zstd_shuffle", Compression::kZstd, true}}) {
    WriteOptions o;
    o.compression = v.c;
    o.byte_shuffle = v.shuffle;
    o.chunk_size = 64 << 10;
    o.threads = 1;
    Status st = write(dir + "/" + v.name + ".thaw", s.contents, o);
    if (!st.is_ok()) {
      std::fprintf(stderr, "%s\n", st.to_string().c_str());
      rc = 1;
    }
  }
  BundleContents empty;
  empty.name = "empty";
  Status st = write(dir + "/empty.thaw", empty, {});
  if (!st.is_ok()) rc = 1;
  return rc;
}
