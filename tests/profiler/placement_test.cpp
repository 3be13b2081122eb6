// Where `paratune search` puts the slow inter-island link, from measurements only: the cluster
// profile of an emulated 2-node x 2-rank cluster with a 1 Gbit/s link and a measured gpt-small
// model profile, under memory limits at which pure data parallelism does not fit (the model must
// be split). Two sources for the cluster profile: the committed measurement (always runs) and a
// fresh one measured here (needs root and network namespaces; skipped with the reason otherwise).
//
// What the measurements imply on this machine (and what is checked): the transformer layers'
// tensor parallelism stays inside the islands (TP across the link would put ~4 activation
// allreduces per layer and micro-batch on it). What they do NOT imply here: pipeline stages
// across the link. Gradient sync across the link is paid once per iteration (~2-4 s at 1 Gbit/s)
// against ~100 s of CPU compute, while a 2-stage pipeline pays its bubble and an imbalance (the
// gpt-small LM head costs ~4 layers of compute) and holds the tied embedding on both stages, so
// the estimator prices PP as 1.4-1.6x slower and the planner prefers DP across the link. A
// training check did not confirm that ranking on this oversubscribed 2-core machine (see
// docs/profilers.md, "Placement on the emulated cluster"), so it is not asserted either way.
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

// Searches gpt-small on `cluster` under `limit`; checks that pure DP does not fit and that every
// transformer layer's TP group lies inside one island.
void expect_tp_inside_islands(const std::string& cluster, const std::string& limit) {
  auto c = load_cluster_profile(cluster);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->islands.size(), 2u);
  const testing::TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string out = dir.path() + "/strategy.json";
  testing::Run r = run(bin() + " search --cluster " + cluster + " --model " + kModel +
                       " --profile " + kProfile + " --memory-per-device " + limit +
                       " --global-batch 8 -o " + out);
  ASSERT_EQ(r.rc, 0) << r.output;
  // The limit forces model splitting: the pure-DP baseline (a full replica per device) does not fit.
  EXPECT_NE(r.output.find("pure-dp   does not fit"), std::string::npos) << r.output;
  auto s = load_strategy(out);
  ASSERT_TRUE(s.ok()) << s.status().message();
  for (size_t l = 0; l < s->layers.size(); ++l) {
    const LayerStrategy& ls = s->layers[l];
    const StageIdx stage = s->stage_of_layer(LayerIdx(l));
    bool inside = true;
    for (const std::vector<Rank>& g : tp_groups(s->num_devices, s->pp, stage, ls))
      for (Rank rank : g) inside = inside && c->island_of(rank) == c->island_of(g.front());
    EXPECT_TRUE(inside) << "layer " << l << ": " << to_string(ls) << "\n" << r.output;
  }
}

// Only at 2 GiB since the estimator charges ZeRO's reduce-scatter per micro-batch, as the
// executor runs it. At 1300 and 1536 MiB, DP across the link needs ZeRO, and ZeRO now pays
// its reduce-scatter on the link every micro-batch, so the search predicts TP across the link
// to be faster:
//   - 1300 MiB: tp4-dp1, 128.0 s per iteration, against 149.5 s for the best plan with
//     `--max-tp 2`, which is ZeRO with dp across the link.
//   - 1536 MiB: 6 of 12 layers at tp2 across the link with dp2-zero3 inside the islands.
// That ranking has not been checked by training (docs/profilers.md), so neither placement is
// asserted at those limits.
TEST(Placement, CommittedMeasurementsKeepTpInsideIslands) {
  for (const char* limit : {"2GiB"})
    expect_tp_inside_islands("tests/profiler/data/emulated-2x2-1gbit.cluster.json", limit);
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
