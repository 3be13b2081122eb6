#include "estimator/pipeline.h"

#include <gtest/gtest.h>

#include "estimator/comm_model.h"
#include "fixtures.h"

namespace paratune::estimator {
namespace {

TEST(Pipeline, InFlightMicroBatches1F1B) {
  for (int s = 0; s < 4; ++s) EXPECT_EQ(in_flight_micro_batches(4, s, 8), 4 - s);
  EXPECT_EQ(in_flight_micro_batches(4, 0, 2), 2);
  EXPECT_EQ(in_flight_micro_batches(4, 2, 2), 2);
  EXPECT_EQ(in_flight_micro_batches(4, 3, 2), 1);
  EXPECT_EQ(in_flight_micro_batches(1, 0, 16), 1);
}

TEST(Pipeline, IterationTimeGolden) {
  using ms = Milliseconds;
  // 2 + 3 + (4 - 1) * 3 + max(1, 0.5) = 15.
  EXPECT_DOUBLE_EQ(pipeline_iteration_time({ms(2), ms(3)}, {ms(1), ms(0.5)}, 4).value, 15.0);
  // Equal stages: (M + pp - 1) * micro.
  EXPECT_DOUBLE_EQ(
      pipeline_iteration_time({ms(2), ms(2), ms(2), ms(2)}, {ms(0), ms(0), ms(0), ms(0)}, 8).value,
      (8 + 4 - 1) * 2.0);
  // No pipeline: M * micro + sync.
  EXPECT_DOUBLE_EQ(pipeline_iteration_time({ms(5)}, {ms(2)}, 3).value, 17.0);
}

TEST(Pipeline, IterationTimeWithoutHostSharingIsThe1F1BFormula) {
  using ms = Milliseconds;
  ModelConfig m = testing::tiny_model();
  ClusterProfile c = testing::two_level_cluster(1, 4);
  CostContext ctx = testing::context(m, c, nullptr, 4, 2, 4, 16);
  const std::vector<StageTime> st{{ms(2), ms(1.5), ms(1), ms(0)}, {ms(3), ms(2), ms(0.5), ms(0)}};
  EXPECT_DOUBLE_EQ(iteration_time(ctx, st).value, 15.0);
  EXPECT_DOUBLE_EQ(solo_micro(ctx, 1, st[1]).value, 3.0);
  // A slowdown recorded for one rank per host is no sharing either.
  c.host_sharing = {1, 2.0};
  EXPECT_DOUBLE_EQ(iteration_time(ctx, st).value, 15.0);
}

TEST(Pipeline, IterationTimeWithHostSharingGolden) {
  using ms = Milliseconds;
  ModelConfig m = testing::tiny_model();
  ClusterProfile c = testing::two_level_cluster(2, 2);
  c.host_sharing = {4, 2.0};  // 4 ranks on one host, twice as slow when all compute
  // pp 4, one rank per stage, M = 8: micro 3 ms of which 2.5 compute, no sync.
  CostContext ctx = testing::context(m, c, nullptr, 4, 4, 8, 16);
  const std::vector<StageTime> four(4, StageTime{ms(3), ms(2.5), ms(0), ms(0)});
  // solo = 3 - 2.5 / 2 = 1.75; T1 = 11 * 1.75 = 19.25.
  EXPECT_DOUBLE_EQ(solo_micro(ctx, 0, four[0]).value, 1.75);
  // T2 = 8 * (4 * 2.5 / 4 + 0.5) = 24 > T1 (the plain formula says 11 * 3 = 33).
  EXPECT_DOUBLE_EQ(iteration_time(ctx, four).value, 24.0);
  // pp 1 on the host: T2 is the plain formula M * micro + sync.
  CostContext one = testing::context(m, c, nullptr, 4, 1, 2, 16);
  EXPECT_DOUBLE_EQ(iteration_time(one, {StageTime{ms(3), ms(2.5), ms(1), ms(0)}}).value, 7.0);
  // Two hosts of 2 ranks, pp 2: each stage fills its host, so T = the plain formula (T2 = 13).
  c.host_sharing = {2, 2.0};
  CostContext two = testing::context(m, c, nullptr, 4, 2, 4, 16);
  const std::vector<StageTime> st{{ms(2), ms(1.5), ms(1), ms(0)}, {ms(3), ms(2), ms(0.5), ms(0)}};
  EXPECT_DOUBLE_EQ(solo_compute_factor(two, 1), 1.0);
  EXPECT_DOUBLE_EQ(iteration_time(two, st).value, 15.0);
  // pp 2 on one host of 4: 2 ranks of a stage on the host's 2 cores run at solo speed.
  c.host_sharing = {4, 2.0};
  EXPECT_DOUBLE_EQ(solo_compute_factor(two, 0), 0.5);
  // T1 = (1.25 + 2) + 3 * 2 + 1 = 10.25; T2 = 4 * ((1.5 + 2) / 2 + 0.5) + 1 = 10.
  EXPECT_DOUBLE_EQ(iteration_time(two, st).value, 10.25);
  // Arrival waits shrink with the compute at solo speed: 0.5 ms of waits in each stage take
  // 0.25 ms off its solo micro-batch: T1 = (1 + 1.75) + 3 * 1.75 + 1 = 9 < T2 = 10 (T2 leaves
  // them as they are: they are not work for the host's cores).
  const std::vector<StageTime> waits{{ms(2), ms(1.5), ms(1), ms(0.5)},
                                     {ms(3), ms(2), ms(0.5), ms(0.5)}};
  EXPECT_DOUBLE_EQ(solo_micro(two, 0, waits[0]).value, 1.0);
  EXPECT_DOUBLE_EQ(iteration_time(two, waits).value, 10.0);
  // Without host sharing they are plain time.
  ClusterProfile plain_c = testing::two_level_cluster(2, 2);
  CostContext plain = testing::context(m, plain_c, nullptr, 4, 2, 4, 16);
  EXPECT_DOUBLE_EQ(solo_micro(plain, 0, waits[0]).value, 2.0);
  // A communication-bound stage: T1 wins (compute 0.2 of micro 3).
  c.host_sharing = {4, 2.0};
  const std::vector<StageTime> comm(4, StageTime{ms(3), ms(0.2), ms(0), ms(0)});
  EXPECT_DOUBLE_EQ(iteration_time(ctx, comm).value, 11 * 2.9);
}

TEST(Pipeline, OutOfStepSetsShareTheHostsCoresGolden) {
  using ms = Milliseconds;
  ModelConfig m = testing::tiny_model();
  ClusterProfile c = testing::two_level_cluster(2, 2);
  c.host_sharing = {4, 2.0};  // 4 ranks on one host's 2 cores
  CostContext ctx = testing::context(m, c, nullptr, 4, 1, 2, 16);
  // Micro 10 ms, of which compute 4 (profiled with all 4 ranks computing) and 6 communication.
  StageTime st{ms(10), ms(4), ms(1), ms(0)};
  // In step (one set): the plain time.
  EXPECT_DOUBLE_EQ(shared_micro(ctx, 0, st).value, 10.0);
  EXPECT_DOUBLE_EQ(iteration_time(ctx, {st}).value, 21.0);
  // Four sets of one rank: given one computes, j ~ Bin(3, u) others do; the compute takes
  // max(1, (1 + j) / 2) / 2 of its profiled time. Fixed point u = 2 - sqrt(3): the compute
  // takes 4 e = 2.196 ms, the micro-batch 8.196 (python: the same iteration, 1e-12).
  st.groups = 4;
  const double four = shared_micro(ctx, 0, st).value;
  EXPECT_NEAR(four, 8.196152422707007, 1e-6);
  // Never below the critical path at solo speed (4 / 2 + 6) nor above the in-step time.
  EXPECT_GT(four, 8.0);
  EXPECT_LT(four, 10.0);
  // Two sets of two ranks: fewer sets, less to gain.
  st.groups = 2;
  EXPECT_NEAR(shared_micro(ctx, 0, st).value, 8.605551275465618, 1e-6);
  // T = max(T1 = 2 * 8.196 + 1, T2 = 2 * (4 + 6 (1 - u)^3) + 1): T1.
  st.groups = 4;
  EXPECT_NEAR(iteration_time(ctx, {st}).value, 2 * 8.196152422707007 + 1, 1e-6);
  // Compute-bound: compute 8 of 10. The host's capacity (c = 8) bounds it from below.
  StageTime busy{ms(10), ms(8), ms(0), ms(0), 4};
  EXPECT_NEAR(shared_micro(ctx, 0, busy).value, 8.635185521118105, 1e-6);
  EXPECT_GE(shared_micro(ctx, 0, busy).value, 8.0);
  // Without host sharing the sets change nothing.
  ClusterProfile plain_c = testing::two_level_cluster(2, 2);
  CostContext plain = testing::context(m, plain_c, nullptr, 4, 1, 2, 16);
  EXPECT_DOUBLE_EQ(shared_micro(plain, 0, st).value, 10.0);
  // The lower bound the planner prunes with: one rank alone, 1 / k.
  EXPECT_DOUBLE_EQ(least_solo_compute_factor(ctx), 0.5);
  EXPECT_DOUBLE_EQ(least_solo_compute_factor(plain), 1.0);
}

TEST(Pipeline, CallsTakeTheHostsCpuGolden) {
  using ms = Milliseconds;
  ModelConfig m = testing::tiny_model();
  ClusterProfile c = testing::two_level_cluster(2, 2);
  c.host_sharing = {4, 2.0, 0.1};  // 0.1 ms of CPU per call
  // pp 2 on one host of 4, 5 calls per micro-batch on each stage's ranks: 2 * 0.1 * 5 = 1 ms
  // of profiled-compute time each. T2 = 4 * ((1.5 + 1) / 2 + (2 + 1) / 2 + min(max(0, 2 - 1.5 -
  // 1 / 2), max(0, 3 - 2 - 1 / 2))) + 1 = 12 > T1 = 10.25 (as without calls).
  CostContext two = testing::context(m, c, nullptr, 4, 2, 4, 16);
  std::vector<StageTime> st{{ms(2), ms(1.5), ms(1), ms(0), 1, 5}, {ms(3), ms(2), ms(0.5), ms(0), 1, 5}};
  EXPECT_DOUBLE_EQ(iteration_time(two, st).value, 12.0);
  // Not profiled (0 ms per call): T2 = 10, T = T1.
  c.host_sharing.call_cpu_ms = 0;
  EXPECT_DOUBLE_EQ(iteration_time(two, st).value, 10.25);
  // One stage in step on the full host: the calls' CPU is inside its communication time while
  // that is longer (T2 = M m + sync, the plain formula) ...
  c.host_sharing.call_cpu_ms = 0.1;
  CostContext one = testing::context(m, c, nullptr, 4, 1, 2, 16);
  EXPECT_DOUBLE_EQ(iteration_time(one, {StageTime{ms(4), ms(2.5), ms(1), ms(0), 1, 5}}).value, 9.0);
  // ... and bounds the step when it is not: 2 * (2.5 + 1) + 1 = 8 > 7.
  EXPECT_DOUBLE_EQ(iteration_time(one, {StageTime{ms(3), ms(2.5), ms(1), ms(0), 1, 5}}).value, 8.0);
  EXPECT_DOUBLE_EQ(p2p_calls(two, 0), 2.0);
  EXPECT_DOUBLE_EQ(p2p_calls(one, 0), 0.0);
  CostContext four = testing::context(m, c, nullptr, 4, 4, 4, 16);
  EXPECT_DOUBLE_EQ(p2p_calls(four, 1), 4.0);
}

TEST(Pipeline, HostGroupsAreTheSetsNoPerMicroBatchCollectiveJoins) {
  ModelConfig m = testing::tiny_model();
  ClusterProfile c = testing::two_level_cluster(2, 2);
  c.host_sharing = {4, 2.0};
  CostContext ctx = testing::context(m, c, nullptr, 4, 1, 2, 16);
  auto ls = [](int tp, int dp, DpType t, bool cons = true) {
    return testing::strategy(tp, dp, t, /*ckpt=*/false, cons);
  };
  const LayerStrategy ddp4 = ls(1, 4, DpType::kDdp);
  // DDP syncs once per iteration: every rank is its own set.
  EXPECT_EQ(host_groups(ctx, 0, ddp4, {ddp4, ddp4}, false), 4);
  // ZeRO reduce-scatters every micro-batch over the DP group: one set.
  const LayerStrategy z4 = ls(1, 4, DpType::kZero2);
  EXPECT_EQ(host_groups(ctx, 0, ddp4, {z4}, false), 1);
  EXPECT_EQ(host_groups(ctx, 0, z4, {ddp4}, false), 1);  // the embedding's too
  // TP 2 with DDP: two TP groups, consecutive {0,1}, {2,3} or strided {0,2}, {1,3}.
  const LayerStrategy tp2 = ls(2, 2, DpType::kDdp), tp2s = ls(2, 2, DpType::kDdp, false);
  EXPECT_EQ(host_groups(ctx, 0, tp2, {tp2}, false), 2);
  EXPECT_EQ(host_groups(ctx, 0, tp2s, {tp2s}, false), 2);
  // Both layouts in one stage join every rank (and a reshard between them does anyway).
  EXPECT_EQ(host_groups(ctx, 0, tp2, {tp2, tp2s}, false), 1);
  EXPECT_EQ(host_groups(ctx, 0, ddp4, {ddp4}, true), 1);
  // TP over the whole stage.
  const LayerStrategy tp4 = ls(4, 1, DpType::kDdp);
  EXPECT_EQ(host_groups(ctx, 0, tp4, {tp4}, false), 1);
  // pp 2: each stage has 2 ranks on the host; a middle stage does not hold the embedding.
  CostContext pp2 = testing::context(m, c, nullptr, 4, 2, 4, 16);
  const LayerStrategy ddp2 = ls(1, 2, DpType::kDdp), z2 = ls(1, 2, DpType::kZero3);
  EXPECT_EQ(host_groups(pp2, 1, ddp2, {ddp2}, false), 2);
  EXPECT_EQ(host_groups(pp2, 1, z2, {ddp2}, false), 1);  // the head is on the last stage
  // Without host sharing: 1.
  ClusterProfile plain_c = testing::two_level_cluster(2, 2);
  CostContext plain = testing::context(m, plain_c, nullptr, 4, 1, 2, 16);
  EXPECT_EQ(host_groups(plain, 0, ddp4, {ddp4}, false), 1);
}

TEST(Pipeline, HandoffDelayGolden) {
  using ms = Milliseconds;
  ModelConfig m = testing::tiny_model();
  ClusterProfile c = testing::two_level_cluster(1, 4);  // one island of 4: intra p2p
  CostContext ctx = testing::context(m, c, nullptr, 4, 2, 4, 16);
  const std::vector<StageTime> st{{ms(2), ms(1.5), ms(1), ms(0)}, {ms(3), ms(2), ms(0.5), ms(0)}};
  EXPECT_DOUBLE_EQ(iteration_time(ctx, st).value, 15.0);
  // h = 0.5 on the link 0 -> 1: stage 0 waits 0.5 * (1.5 + 2) / 2 = 0.875 more per micro-batch:
  // (2.875 + 3) + 3 * 3 + 1.
  for (P2pFit& f : c.p2p)
    if (f.placement == Placement::kIntraIsland) f.handoff_fraction = 0.5;
  EXPECT_DOUBLE_EQ(handoff_fraction(c, Placement::kIntraIsland), 0.5);
  EXPECT_DOUBLE_EQ(handoff_fraction(c, Placement::kInterIsland), 0.0);  // its own entry: none
  EXPECT_DOUBLE_EQ(iteration_time(ctx, st).value, 15.875);
  // The last stage sends nothing, so pp 1 has no delay.
  CostContext one = testing::context(m, c, nullptr, 4, 1, 2, 16);
  EXPECT_DOUBLE_EQ(iteration_time(one, {StageTime{ms(3), ms(2.5), ms(1), ms(0)}}).value, 7.0);
  // With host sharing the delay is taken at solo speed (factor 0.5 for 2 of 4 ranks):
  // d = 0.5 * (0.75 + 1) / 2 = 0.4375; T1 = (1.25 + 0.4375) + 2 + 3 * 2 + 1 = 10.6875 > T2 = 10.
  c.host_sharing = {4, 2.0};
  EXPECT_DOUBLE_EQ(iteration_time(ctx, st).value, 10.6875);
  // Without an entry for the placement, the other placement's is used.
  ClusterProfile only_inter = testing::two_level_cluster(2, 2);
  only_inter.p2p.erase(only_inter.p2p.begin());
  ASSERT_EQ(only_inter.p2p.size(), 1u);
  only_inter.p2p[0].handoff_fraction = 0.25;
  EXPECT_DOUBLE_EQ(handoff_fraction(only_inter, Placement::kIntraIsland), 0.25);
}

// Ranks bound one CPU each (host_sharing.cpus): the 1F1B schedule played out on the CPUs.
TEST(Pipeline, BoundRanksPlayThe1F1BScheduleOnTheirCpus) {
  using ms = Milliseconds;
  ModelConfig m = testing::tiny_model();
  // pp 2 on one CPU (2 ranks, k = 2): alone a stage computes twice as fast as profiled, both
  // at once share it. No communication, and some stage always has work: the CPU never idles,
  // so T = all the work at 2 profiled ms per ms = 2 stages * 4 micro-batches * 30 / 2.
  ClusterProfile one_cpu = testing::two_level_cluster(1, 2);
  one_cpu.host_sharing = {2, 2.0, 0.0, {0, 0}};
  CostContext ctx = testing::context(m, one_cpu, nullptr, 2, 2, 4, 16);
  ASSERT_TRUE(bound_one_cpu_each(ctx));
  const std::vector<StageTime> two(2, StageTime{ms(30), ms(30), ms(0), ms(0)});
  EXPECT_NEAR(bound_pipeline_time(ctx, two, {0.0}).value, 120.0, 1e-9);
  // T1 at solo speed is 5 * 15 = 75: the schedule on the CPU is what the iteration takes.
  EXPECT_NEAR(iteration_time(ctx, two).value, 120.0, 1e-9);
  // Each stage on a CPU of its own (2 ranks each): the plain 1F1B at profiled speed, (M + 1) *
  // 30; one micro-batch with a handoff of 1.5 ms per message: F0, F1, B1, B0 and two handoffs.
  ClusterProfile own = testing::two_level_cluster(1, 4);
  own.host_sharing = {4, 2.0, 0.0, {0, 0, 1, 1}};
  CostContext own4 = testing::context(m, own, nullptr, 4, 2, 4, 16);
  EXPECT_NEAR(bound_pipeline_time(own4, two, {0.0}).value, 150.0, 1e-9);
  CostContext own1 = testing::context(m, own, nullptr, 4, 2, 1, 16);
  EXPECT_NEAR(bound_pipeline_time(own1, two, {1.5}).value, 63.0, 1e-9);
  // The sync is added once.
  std::vector<StageTime> synced = two;
  synced[1].sync = ms(4);
  EXPECT_NEAR(bound_pipeline_time(own4, synced, {0.0}).value, 154.0, 1e-9);
  // pp 4 on 2 CPUs bound 0,1,0,1 (stages 0 and 2 share one, 1 and 3 the other), M = 8, micro
  // 3 ms of which 2.5 compute (the golden of IterationTimeWithHostSharingGolden, where the
  // capacity form gives 24): 26.1675 by a time-stepped simulation written apart from this one
  // (dt = 1e-4 ms).
  ClusterProfile alt = testing::two_level_cluster(2, 2);
  alt.host_sharing = {4, 2.0, 0.0, {0, 1, 0, 1}};
  CostContext pp4 = testing::context(m, alt, nullptr, 4, 4, 8, 16);
  const std::vector<StageTime> four(4, StageTime{ms(3), ms(2.5), ms(0), ms(0)});
  EXPECT_NEAR(iteration_time(pp4, four).value, 26.1675, 2e-3);
  alt.host_sharing.cpus.clear();  // not recorded: the capacity form
  EXPECT_FALSE(bound_one_cpu_each(pp4));
  EXPECT_DOUBLE_EQ(iteration_time(pp4, four).value, 24.0);
}

TEST(Pipeline, P2pGoldenAndPlacement) {
  // 8 devices in 2 islands of 4, pp 2: stage 0 = island 0, stage 1 = island 1 -> inter p2p at
  // 1 GB/s. Micro-batch 16/2 = 8 samples of 16 x 64 fp32, 1/4 per device pair, both directions.
  ModelConfig m = testing::tiny_model();
  ClusterProfile c = testing::two_level_cluster(2, 4);
  c.p2p[1].latency = Milliseconds(0.05);
  CostContext ctx = testing::context(m, c, nullptr, 8, 2, 2, 16);
  const double bytes = 8.0 * 16 * 64 * 4 / 4;
  const LayerStrategy dp4{1, true, false, 4, DpType::kDdp, false};
  EXPECT_NEAR(p2p_time(ctx, 0, dp4).value, 2 * (0.05 + bytes / 1e9 * 1e3), 1e-12);
  EXPECT_EQ(p2p_time(ctx, 1, dp4).value, 0.0);  // last stage sends nothing
  // pp 4: stages 0 -> 1 inside island 0 at 10 GB/s, 1 -> 2 across.
  CostContext ctx4 = testing::context(m, c, nullptr, 8, 4, 2, 16);
  const double b4 = 8.0 * 16 * 64 * 4 / 2;
  const LayerStrategy dp2{1, true, false, 2, DpType::kDdp, false};
  EXPECT_NEAR(p2p_time(ctx4, 0, dp2).value, 2 * b4 / 1e10 * 1e3, 1e-12);
  EXPECT_NEAR(p2p_time(ctx4, 1, dp2).value, 2 * (0.05 + b4 / 1e9 * 1e3), 1e-12);
}

TEST(Pipeline, P2pSendsTheLastLayersBlock) {
  // The executor sends each device's block in the last layer's layout: TP ranks without SP hold
  // (and send) the whole batch slice of their DP rank, with SP a 1/tp sequence slice of it.
  ModelConfig m = testing::tiny_model();
  ClusterProfile c = testing::two_level_cluster(2, 4);
  c.p2p[1].latency = Milliseconds(0.05);
  CostContext ctx = testing::context(m, c, nullptr, 8, 2, 2, 16);
  const double micro = 8.0 * 16 * 64 * 4;  // one micro-batch's activation, bytes
  auto expect = [](double bytes) { return 2 * (0.05 + bytes / 1e9 * 1e3); };
  const LayerStrategy tp2{2, true, false, 2, DpType::kDdp, false};
  const LayerStrategy tp2_sp{2, true, true, 2, DpType::kDdp, false};
  const LayerStrategy tp4{4, true, false, 1, DpType::kZero3, true};
  EXPECT_NEAR(p2p_time(ctx, 0, tp2).value, expect(micro / 2), 1e-12);
  EXPECT_NEAR(p2p_time(ctx, 0, tp2_sp).value, expect(micro / 4), 1e-12);
  EXPECT_NEAR(p2p_time(ctx, 0, tp4).value, expect(micro), 1e-12);
}

}  // namespace
}  // namespace paratune::estimator
