// Where `paratune search` puts the slow inter-island link, from measurements only: the cluster
// profile of an emulated 2-node x 2-rank cluster with a 1 Gbit/s link and a measured gpt-small
// model profile, under memory limits at which pure data parallelism does not fit (the model must
// be split). Two sources for the cluster profile: the committed measurement (always runs) and a
// fresh one measured here (needs root and network namespaces; skipped with the reason otherwise).
//
// What the measurements imply on this machine (committed measurement of 2026-12-02, after the
// executor's Gloo loop-thread fix and with arrival waits), and what is checked:
//   * at 1300 and 1536 MiB (pure DP and ZeRO-3 over 4 do not fit): a 2-stage pipeline whose
//     stages are the two islands, so the only traffic on the slow link is the p2p of the
//     activations, with TP 2 inside each island for every layer and the embedding / LM head;
//   * at 2 GiB: one stage, the transformer layers' TP inside the islands, data parallelism
//     across the link.
// Neither is a rule in the planner: with the profile measured before the fix (small collectives
// all cost ~4 ms, inside and across islands alike), the same search put TP across the link at
// 1300 MiB (tp4) and 1536 MiB. A fresh measurement here (root + namespaces) is checked only at
// 2 GiB: the 1300/1536 MiB choices agreed in two fresh measurements but have not been measured
// by training on this oversubscribed 2-core machine (docs/profilers.md).
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "core/cluster_profile.h"
#include "core/device_mesh.h"
#include "core/model_config.h"
#include "core/strategy.h"
#include "tests/profiler/test_util.h"

namespace paratune::profiler {
namespace {

using testing::bin;
using testing::run;

const char* kModel = "configs/models/gpt-small.json";
const char* kProfile = "tests/profiler/data/gpt-small.emulated-2x2.profile.json";

struct Searched {
  ClusterProfile cluster;
  Strategy strategy;
};

// Searches gpt-small on `cluster` under `limit` and checks that pure DP does not fit and that
// every transformer layer's TP group (with `embedding_too` also the embedding / LM head's)
// lies inside one island.
void search_tp_inside_islands(const std::string& cluster, const std::string& limit,
                              bool embedding_too, Searched* out) {
  auto c = load_cluster_profile(cluster);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->islands.size(), 2u);
  const testing::TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string file = dir.path() + "/strategy.json";
  testing::Run r = run(bin() + " search --cluster " + cluster + " --model " + kModel +
                       " --profile " + kProfile + " --memory-per-device " + limit +
                       " --global-batch 8 -o " + file);
  ASSERT_EQ(r.rc, 0) << r.output;
  // The limit forces model splitting: the pure-DP baseline (a full replica per device) does not fit.
  EXPECT_NE(r.output.find("pure-dp   does not fit"), std::string::npos) << r.output;
  auto s = load_strategy(file);
  ASSERT_TRUE(s.ok()) << s.status().message();
  auto inside = [&](const LayerStrategy& ls, StageIdx stage) {
    for (const std::vector<Rank>& g : tp_groups(s->num_devices, s->pp, stage, ls))
      for (Rank rank : g)
        if (c->island_of(rank) != c->island_of(g.front())) return false;
    return true;
  };
  for (size_t l = 0; l < s->layers.size(); ++l) {
    const StageIdx stage = s->stage_of_layer(LayerIdx(l));
    EXPECT_TRUE(inside(s->layers[l], stage)) << limit << " layer " << l << ": "
                                             << to_string(s->layers[l]) << "\n" << r.output;
  }
  if (embedding_too) {
    for (StageIdx stage : {StageIdx(0), StageIdx(s->pp - 1)})
      EXPECT_TRUE(inside(s->embedding, stage)) << limit << " embedding / head: "
                                             << to_string(s->embedding) << "\n" << r.output;
  }
  *out = {*c, *s};
}

void expect_tp_inside_islands(const std::string& cluster, const std::string& limit) {
  Searched got;
  search_tp_inside_islands(cluster, limit, false, &got);
}

// At 2 GiB the embedding / LM head runs at tp 4 across the link (it is 40% of gpt-small's
// parameters); only the transformer layers are checked there.
TEST(Placement, CommittedMeasurementsKeepTpInsideIslands) {
  expect_tp_inside_islands("tests/profiler/data/emulated-2x2-1gbit.cluster.json", "2GiB");
}

// Under limits where neither pure DP nor ZeRO-3 over all 4 ranks fits, the measured profile
// makes the search cut the pipeline at the slow link: 2 stages, each exactly one island.
TEST(Placement, CommittedMeasurementsPutPipelineStagesAcrossTheSlowLink) {
  for (const char* limit : {"1300MiB", "1536MiB"}) {
    Searched got;
    search_tp_inside_islands("tests/profiler/data/emulated-2x2-1gbit.cluster.json", limit, true,
                             &got);
    if (::testing::Test::HasFatalFailure()) return;
    const Strategy& s = got.strategy;
    ASSERT_EQ(s.pp, 2) << limit;
    const int g = s.num_devices / s.pp;
    for (StageIdx stage = 0; stage < s.pp; ++stage) {
      const int island = got.cluster.island_of(Rank(stage * g));
      for (int i = 0; i < g; ++i)
        EXPECT_EQ(got.cluster.island_of(Rank(stage * g + i)), island)
            << limit << ": stage " << stage << " spans islands";
    }
    EXPECT_NE(got.cluster.island_of(Rank(0)), got.cluster.island_of(Rank(g))) << limit;
  }
}

std::string netns_skip_reason() {
  if (geteuid() != 0) return "needs root (network namespaces, veth, tc)";
  const std::string probe = "paratune-probe-" + std::to_string(getpid());
  testing::Run r = run("ip netns add " + probe);
  if (r.rc != 0) return "`ip netns add` failed: " + r.output;
  (void)run("ip netns del " + probe);
  return "";
}

TEST(Placement, FreshEmulatedClusterKeepsTpInsideIslands) {
  const std::string why = netns_skip_reason();
  if (!why.empty()) GTEST_SKIP() << why;
  const testing::TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string file = dir.path() + "/cluster.json";
  testing::Run m = run(bin() + " launch --emulate-link 1gbit:200us --nnodes 2 --nproc-per-node 2 -- " +
                       bin() + " profile-cluster -o " + file +
                       " --sizes 256KiB,1MiB,4MiB --repeats 3 --gemm-size 256");
  ASSERT_EQ(m.rc, 0) << m.output;
  expect_tp_inside_islands(file, "2GiB");
}

}  // namespace
}  // namespace paratune::profiler
