// Torch-free tests of the checkpoint format: CRC-32, the slice -> full-tensor mapping and
// re-sharding copy plans (against an element-by-element oracle), manifest / shard index
// round trips and strict errors, block-checksummed I/O, locating the latest complete save.
#include "core/checkpoint_format.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "core/checkpoint_io.h"
#include "core/checkpoint_layout.h"
#include "core/crc32.h"

namespace paratune {
namespace {

namespace fs = std::filesystem;

TEST(Crc32, KnownValues) {
  EXPECT_EQ(crc32_update(0, "123456789", 9), 0xCBF43926u);
  EXPECT_EQ(crc32_update(0, "", 0), 0u);
  const std::string s = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(crc32_update(0, s.data(), s.size()), 0x414FA339u);
  // Incremental == one shot, at every split point.
  for (size_t k = 0; k <= s.size(); ++k)
    EXPECT_EQ(crc32_update(crc32_update(0, s.data(), k), s.data() + k, s.size() - k), 0x414FA339u);
}

// Full-tensor element index of every element of a slice range, computed the slow way.
std::vector<int64_t> oracle(const SliceRange& r) {
  const int nd = int(r.full_shape.size());
  int64_t numel = 1;
  for (int64_t d : r.full_shape) numel *= d;
  std::vector<int64_t> slice;  // full indices of the slice in its row-major order
  std::vector<int64_t> idx(nd, 0);
  for (int64_t f = 0; f < numel; ++f) {
    int64_t rem = f;
    for (int d = nd - 1; d >= 0; --d) {
      idx[d] = rem % r.full_shape[d];
      rem /= r.full_shape[d];
    }
    bool in = true;
    if (r.split_dim >= 0) {
      const int64_t c = r.full_shape[r.split_dim] / r.tp;
      in = idx[r.split_dim] / c == r.tp_rank;
    }
    if (in) slice.push_back(f);
  }
  return std::vector<int64_t>(slice.begin() + r.begin, slice.begin() + r.end);
}

std::vector<int64_t> expand(const std::vector<FullRun>& runs) {
  std::vector<int64_t> out;
  int64_t local = 0;
  for (const FullRun& fr : runs) {
    EXPECT_EQ(fr.local, local);
    for (int64_t i = 0; i < fr.len; ++i) out.push_back(fr.full + i);
    local += fr.len;
  }
  return out;
}

TEST(CheckpointLayout, FullRunsMatchOracle) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 400; ++trial) {
    SliceRange r;
    const int nd = 1 + int(rng() % 3);
    for (int d = 0; d < nd; ++d) r.full_shape.push_back(int64_t(1) << (rng() % 3 + 1));
    r.split_dim = int(rng() % (nd + 1)) - 1;
    r.tp = r.split_dim < 0 ? 1 : int(1 << (rng() % 2));
    if (r.split_dim >= 0 && r.full_shape[r.split_dim] % r.tp) r.tp = 1;
    r.tp_rank = int(rng() % r.tp);
    int64_t n = 1;
    for (int64_t d : r.full_shape) n *= d;
    n /= r.tp;
    r.begin = int64_t(rng() % n);
    r.end = r.begin + 1 + int64_t(rng() % (n - r.begin));
    EXPECT_EQ(expand(full_runs(r)), oracle(r)) << "trial " << trial;
  }
}

// Pieces of a tensor as a writer under (tp, dp) produces them: DP shard ranges of the slice.
std::vector<SliceRange> layout(const std::vector<int64_t>& shape, int split, int tp, int dp) {
  std::vector<SliceRange> out;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  n /= tp;
  const int64_t shard = (n + dp - 1) / dp;
  for (int k = 0; k < tp; ++k)
    for (int j = 0; j < dp; ++j) {
      const int64_t b = j * shard, e = std::min(n, b + shard);
      if (b < e) out.push_back({shape, tp == 1 ? -1 : split, tp, k, b, e});
    }
  return out;
}

TEST(CheckpointLayout, PlanCopiesReshardsBetweenLayouts) {
  const std::vector<std::vector<int64_t>> shapes = {{8, 12}, {16}, {4, 6, 8}};
  for (const auto& shape : shapes) {
    for (int split = 0; split < int(shape.size()); ++split) {
      for (int stp : {1, 2, 4}) {
        for (int sdp : {1, 3}) {
          if (shape[split] % stp) continue;
          const auto src = layout(shape, split, stp, sdp);
          // Value of a full element = its index; fill each source piece accordingly.
          std::vector<std::vector<int64_t>> data;
          for (const SliceRange& s : src) data.push_back(oracle(s));
          for (int ttp : {1, 2, 4}) {
            if (shape[split] % ttp) continue;
            for (const SliceRange& t : layout(shape, split, ttp, 2)) {
              auto cp = plan_copies(t, src, "x");
              ASSERT_TRUE(cp.ok()) << cp.status().message();
              std::vector<int64_t> got(size_t(t.end - t.begin), -1);
              for (const Copy& c : *cp)
                for (int64_t i = 0; i < c.len; ++i)
                  got[size_t(c.dst + i)] = data[size_t(c.source)][size_t(c.src + i)];
              EXPECT_EQ(got, oracle(t));
            }
          }
        }
      }
    }
  }
}

TEST(CheckpointLayout, MissingElementsAreNamed) {
  std::vector<SliceRange> src = layout({8, 4}, 0, 2, 1);
  src.erase(src.begin() + 1);  // lose TP slice 1 (full elements 16..31)
  auto cp = plan_copies({{8, 4}, -1, 1, 0, 0, 32}, src, "layer0.wq");
  ASSERT_FALSE(cp.ok());
  EXPECT_NE(cp.status().message().find("layer0.wq: the checkpoint holds no value for element 16"),
            std::string::npos)
      << cp.status().message();
}

TEST(CheckpointLayout, OverlappingSourcesStillCover) {
  std::vector<SliceRange> src = {
      {{10}, -1, 1, 0, 0, 10}, {{10}, -1, 1, 0, 2, 4}, {{10}, -1, 1, 0, 8, 10}};
  auto cp = plan_copies({{10}, -1, 1, 0, 3, 10}, src, "x");
  ASSERT_TRUE(cp.ok()) << cp.status().message();
  int64_t n = 0;
  for (const Copy& c : *cp) n += c.len;
  EXPECT_EQ(n, 7);
}

ModelConfig tiny() {
  ModelConfig m;
  m.name = "t";
  m.num_layers = 2;
  m.hidden = 8;
  m.heads = 2;
  m.kv_heads = 2;
  m.ffn_hidden = 16;
  m.seq_len = 4;
  m.vocab = 16;
  return m;
}

Strategy plan2() {
  Strategy s;
  s.num_devices = 2;
  s.pp = 1;
  s.pp_division = {2};
  s.micro_batches = 1;
  s.global_batch = 2;
  s.embedding.tp = 2;
  s.layers.assign(2, s.embedding);
  return s;
}

CheckpointManifest manifest2() {
  CheckpointManifest m;
  m.step = 4;
  m.world_size = 2;
  m.data = "synthetic";
  m.model = tiny();
  m.strategy = plan2();
  for (int r = 0; r < 2; ++r)
    m.shards.push_back({r, shard_index_name(r), 100, 0xdeadbeefu, shard_data_name(r), 240});
  return m;
}

ShardIndex index1() {
  ShardIndex s;
  s.rank = 1;
  s.step = 4;
  s.data_file = shard_data_name(1);
  s.data_bytes = 240;
  s.block_bytes = 100;
  s.block_crc32 = {1, 2, 0xffffffffu};
  s.rng_offset = 192;
  s.rng_bytes = 48;
  s.pieces.push_back({"layer0", "wq", {8, 8}, 0, 2, 1, 0, 16, 0});
  return s;
}

TEST(CheckpointFormat, RoundTrips) {
  auto m = manifest_from_json(to_json(manifest2()), "m.json");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(*m, manifest2());
  auto s = shard_index_from_json(to_json(index1()), "i.json");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(*s, index1());
}

std::string manifest_error(const std::function<void(Json&)>& edit) {
  Json j = to_json(manifest2());
  edit(j);
  auto m = manifest_from_json(j, "m.json");
  return m.ok() ? "" : m.status().message();
}

std::string index_error(const std::function<void(Json&)>& edit) {
  Json j = to_json(index1());
  edit(j);
  auto m = shard_index_from_json(j, "i.json");
  return m.ok() ? "" : m.status().message();
}

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

TEST(CheckpointFormat, ManifestErrorsNameTheField) {
  EXPECT_HAS(manifest_error([](Json& j) { j["format"] = "other"; }),
             "m.json: field \"format\": expected \"paratune-checkpoint\"");
  EXPECT_HAS(manifest_error([](Json& j) { j["format_version"] = 2; }), "field \"format_version\"");
  EXPECT_HAS(manifest_error([](Json& j) { j.erase("step"); }), "field \"step\": missing");
  EXPECT_HAS(manifest_error([](Json& j) { j["extra"] = 1; }), "field \"extra\": unknown field");
  EXPECT_HAS(manifest_error([](Json& j) { j["shards"][1]["rank"] = 0; }),
             "field \"shards[1].rank\"");
  EXPECT_HAS(manifest_error([](Json& j) { j["shards"][0]["data"] = "../../etc/passwd"; }),
             "field \"shards[0].data\": must be \"rank-00000.bin\"");
  EXPECT_HAS(manifest_error([](Json& j) { j["shards"][0]["index_crc32"] = 1LL << 32; }),
             "field \"shards[0].index_crc32\"");
  EXPECT_HAS(manifest_error([](Json& j) { j["world_size"] = 3; }),
             "field \"shards\": needs world_size");
  EXPECT_HAS(manifest_error([](Json& j) { j["model"]["hidden"] = "x"; }),
             "m.json: field \"model\": field \"hidden\"");
  EXPECT_HAS(manifest_error([](Json& j) { j["strategy"]["num_devices"] = 4; }),
             "m.json: field \"strategy\"");
  EXPECT_HAS(manifest_error([](Json& j) { j["adam"]["beta1"] = 2.0; }), "field \"adam.beta1\"");
}

TEST(CheckpointFormat, ShardIndexErrorsNameTheField) {
  EXPECT_HAS(index_error([](Json& j) { j["format"] = "paratune-checkpoint"; }), "field \"format\"");
  EXPECT_HAS(index_error([](Json& j) { j["block_crc32"].erase(0); }),
             "field \"block_crc32\": needs 3");
  EXPECT_HAS(index_error([](Json& j) { j["data"] = "rank-00000.bin"; }), "field \"data\"");
  EXPECT_HAS(index_error([](Json& j) { j["rng"]["bytes"] = 49; }), "field \"rng\"");
  EXPECT_HAS(index_error([](Json& j) { j["pieces"][0]["end"] = 33; }), "field \"pieces[0].end\"");
  EXPECT_HAS(index_error([](Json& j) { j["pieces"][0]["end"] = 0; }), "field \"pieces[0].end\"");
  EXPECT_HAS(index_error([](Json& j) { j["pieces"][0]["tp"] = 3; }), "field \"pieces[0].tp\"");
  EXPECT_HAS(index_error([](Json& j) { j["pieces"][0]["tp_rank"] = 2; }),
             "field \"pieces[0].tp_rank\"");
  EXPECT_HAS(index_error([](Json& j) { j["pieces"][0]["split_dim"] = 2; }),
             "field \"pieces[0].split_dim\"");
  EXPECT_HAS(index_error([](Json& j) { j["pieces"][0]["split_dim"] = -1; }),
             "field \"pieces[0].tp\"");
  EXPECT_HAS(index_error([](Json& j) { j["pieces"][0]["offset"] = 52; }),
             "field \"pieces[0].offset\"");
  EXPECT_HAS(index_error([](Json& j) { j["pieces"][0]["full_shape"] = Json::array(); }),
             "field \"pieces[0].full_shape\"");
  EXPECT_HAS(index_error([](Json& j) {
               j["pieces"][0]["full_shape"] = {1 << 30, 1 << 30};
             }),
             "field \"pieces[0].full_shape\": has more than 2^48 elements");
}

struct TempDir {
  fs::path p;
  TempDir() {
    char tmpl[] = "/tmp/paratune-ckpt-test-XXXXXX";
    p = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(p); }
};

TEST(CheckpointIo, BlockWriterReaderRoundTripAndCorruption) {
  TempDir d;
  const std::string path = (d.p / "x.bin").string();
  std::vector<char> data(10000);
  std::iota(data.begin(), data.end(), 0);
  BlockWriter w(path, 1024);
  ASSERT_TRUE(w.append(data.data(), 3000).ok());
  ASSERT_TRUE(w.append(data.data() + 3000, 7000).ok());
  EXPECT_FALSE(fs::exists(path));  // only the temporary until commit
  ASSERT_TRUE(w.commit().ok());
  ASSERT_EQ(w.block_crc32().size(), 10u);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  for (int b = 0; b < 10; ++b) {
    const size_t n = std::min<size_t>(1024, data.size() - b * 1024);
    EXPECT_EQ(w.block_crc32()[b], crc32_update(0, data.data() + b * 1024, n));
  }
  {
    BlockReader r(path, 10000, 1024, w.block_crc32());
    std::vector<char> got(5000);
    ASSERT_TRUE(r.read(2500, 5000, got.data()).ok());
    EXPECT_TRUE(std::equal(got.begin(), got.end(), data.begin() + 2500));
    EXPECT_EQ(r.bytes_read(), 6 * 1024);  // blocks 2..7 only
    EXPECT_FALSE(r.read(9000, 2000, got.data()).ok());
  }
  {  // flip one byte of block 5
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5 * 1024 + 17);
    f.put(char(0x55));
  }
  BlockReader r(path, 10000, 1024, w.block_crc32());
  std::vector<char> got(1000);
  EXPECT_TRUE(r.read(0, 1000, got.data()).ok());
  Status st = r.read(5000, 1000, got.data());
  ASSERT_FALSE(st.ok());
  EXPECT_HAS(st.message(), "x.bin: block 5 (bytes 5120..6144): checksum mismatch");
  EXPECT_HAS(r.verify_all().message(), "block 5");
}

TEST(CheckpointIo, UncommittedWriterLeavesNoFile) {
  TempDir d;
  const std::string path = (d.p / "y.bin").string();
  {
    BlockWriter w(path, 64);
    ASSERT_TRUE(w.append("abc", 3).ok());
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(CheckpointFormat, LocateSkipsIncompleteSaves) {
  TempDir d;
  fs::create_directories(d.p / "step-00000002");
  fs::create_directories(d.p / "step-00000004");
  fs::create_directories(d.p / "step-00000010");  // interrupted: no manifest
  fs::create_directories(d.p / "other");
  std::ofstream(d.p / "step-00000002" / kManifestFile) << "{}";
  std::ofstream(d.p / "step-00000004" / kManifestFile) << "{}";
  std::vector<std::string> skipped;
  auto c = locate_checkpoint(d.p.string(), &skipped);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(*c, (d.p / "step-00000004").string());
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_HAS(skipped[0], "step-00000010");
  EXPECT_EQ(*locate_checkpoint((d.p / "step-00000002").string()), (d.p / "step-00000002").string());
  EXPECT_HAS(locate_checkpoint((d.p / "other").string()).status().message(),
             "no complete checkpoint");
  EXPECT_HAS(locate_checkpoint((d.p / "nope").string()).status().message(), "no such");
}

TEST(CheckpointFormat, LocatePrefersLatest) {
  TempDir d;
  for (const char* s : {"step-00000004", "step-00000006", "step-00000008"}) {
    fs::create_directories(d.p / s);
    std::ofstream(d.p / s / kManifestFile) << "{}";
  }
  fs::create_directories(d.p / "step-00000010");  // interrupted
  std::ofstream(d.p / kLatestFile) << "step-00000006\n";
  std::vector<std::string> skipped;
  EXPECT_EQ(*locate_checkpoint(d.p.string(), &skipped), (d.p / "step-00000006").string());
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_HAS(skipped[0], "step-00000010");
  std::ofstream(d.p / kLatestFile) << "step-00000010\n";  // names an incomplete one: ignored
  EXPECT_EQ(*locate_checkpoint(d.p.string()), (d.p / "step-00000008").string());
}

}  // namespace
}  // namespace paratune
