// Every example cluster profile in configs/clusters loads, validates, and covers every group
// shape its cluster can form (scripts/make_spec_clusters.py writes the spec-sheet ones).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/cluster_profile.h"

namespace paratune {
namespace {

namespace fs = std::filesystem;

std::string clusters_dir() {
  const char* s = std::getenv("PARATUNE_SOURCE_DIR");
  return std::string(s ? s : ".") + "/configs/clusters";
}

std::vector<std::string> cluster_files() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(clusters_dir(), ec)) {
    if (e.path().extension() == ".json") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ClusterConfigs, EveryFileLoadsAndValidates) {
  const std::vector<std::string> files = cluster_files();
  ASSERT_GE(files.size(), 6u) << "expected the spec-sheet examples in " << clusters_dir();
  for (const std::string& f : files) {
    StatusOr<ClusterProfile> c = load_cluster_profile(f);
    ASSERT_TRUE(c.ok()) << c.status().message();
    const Status st = validate(*c, f);
    EXPECT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(c->name, fs::path(f).stem().string()) << f;
    EXPECT_FALSE(c->note.empty()) << f;
    // The file is what to_json writes (so the generator and the C++ format agree).
    StatusOr<ClusterProfile> back = cluster_profile_from_json(to_json(*c), f);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, *c) << f;
  }
}

// "{a100|h100}-80gb-{nodes}x8": every collective for every power-of-two group size in each
// placement the cluster can form, p2p per placement, spec-sheet figures.
TEST(ClusterConfigs, SpecSheetClustersCoverEveryGroupShape) {
  const std::regex name(R"(([ah])100-80gb-(\d+)x(\d+))");
  int checked = 0;
  for (const std::string& f : cluster_files()) {
    std::smatch m;
    const std::string stem = fs::path(f).stem().string();
    if (!std::regex_match(stem, m, name)) continue;
    StatusOr<ClusterProfile> c = load_cluster_profile(f);
    ASSERT_TRUE(c.ok()) << c.status().message();
    const bool a100 = m[1] == "a";
    const int nodes = std::stoi(m[2]), per_node = std::stoi(m[3]);
    EXPECT_EQ(c->source, "spec-sheet");
    EXPECT_NE(c->note.find("from public spec sheets, not measured"), std::string::npos) << c->note;
    EXPECT_EQ(c->num_devices(), nodes * per_node);
    EXPECT_EQ(static_cast<int>(c->islands.size()), nodes);
    EXPECT_DOUBLE_EQ(c->device.memory.value, 80e9);
    EXPECT_DOUBLE_EQ(c->device.flops.value, a100 ? 312e12 : 989e12);
    EXPECT_DOUBLE_EQ(c->device.memory_bandwidth.value, a100 ? 2.039e12 : 3.35e12);
    const double intra = a100 ? 240e9 : 360e9, inter = a100 ? 20e9 : 40e9;

    std::set<std::tuple<int, int, bool, int>> have;  // op, n, consecutive, placement
    for (const CollectiveFit& fit : c->collectives) {
      const bool is_intra = fit.placement == Placement::kIntraIsland;
      EXPECT_DOUBLE_EQ(fit.bus_bandwidth.value, is_intra ? intra : inter);
      EXPECT_DOUBLE_EQ(fit.latency.value, is_intra ? 0.01 : 0.02);
      have.insert({static_cast<int>(fit.op), fit.group_size, fit.consecutive,
                   static_cast<int>(fit.placement)});
    }
    for (CollectiveOp op : {CollectiveOp::kAllReduce, CollectiveOp::kAllGather,
                            CollectiveOp::kReduceScatter, CollectiveOp::kAllToAll}) {
      for (int n = 2; n <= c->num_devices(); n *= 2) {
        const auto has = [&](bool consecutive, Placement p) {
          return have.count({static_cast<int>(op), n, consecutive, static_cast<int>(p)}) == 1;
        };
        EXPECT_EQ(has(true, Placement::kIntraIsland), n <= per_node) << stem << " " << n;
        EXPECT_EQ(has(false, Placement::kIntraIsland), n <= per_node / 2) << stem << " " << n;
        EXPECT_EQ(has(true, Placement::kInterIsland), n > per_node) << stem << " " << n;
        EXPECT_EQ(has(false, Placement::kInterIsland), nodes > 1 && n <= c->num_devices() / 2)
            << stem << " " << n;
      }
    }
    ASSERT_EQ(static_cast<int>(c->p2p.size()), nodes > 1 ? 2 : 1);
    for (const P2pFit& p : c->p2p) {
      EXPECT_DOUBLE_EQ(p.bandwidth.value, p.placement == Placement::kIntraIsland ? intra : inter);
    }
    EXPECT_DOUBLE_EQ(c->overlap.compute_slowdown, 1.1);
    EXPECT_DOUBLE_EQ(c->overlap.comm_slowdown, 1.1);
    ++checked;
  }
  EXPECT_EQ(checked, 6);
}

}  // namespace
}  // namespace paratune
