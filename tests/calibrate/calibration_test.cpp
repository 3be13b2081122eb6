// The calibration file, the choice of calibration plans, and the fit of the term multipliers.
#include "calibrate/calibration.h"

#include <gtest/gtest.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "calibrate/plan_runner.h"
#include "core/model_config.h"
#include "tests/estimator/fixtures.h"

namespace paratune::calibrate {
namespace {

namespace et = estimator::testing;

class CalibrationTest : public ::testing::Test {
 protected:
  ModelConfig model_ = et::tiny_model();
  ClusterProfile cluster_ = et::two_level_cluster(1, 4);
  ModelProfile profile_ = et::tiny_profile();

  CalibrationTest() {
    // ZeRO needs allgather and reduce-scatter data; p2p is already there.
    for (int n : {2, 4})
      for (CollectiveOp op : {CollectiveOp::kAllGather, CollectiveOp::kReduceScatter})
        for (bool cons : {true, false})
          cluster_.collectives.push_back(et::fit(op, n, Placement::kIntraIsland, cons, 5, 0.1));
    // Slow links, so that communication is a real share of each plan's step and every term
    // can be told apart by the fit.
    for (CollectiveFit& f : cluster_.collectives) f.bus_bandwidth = BytesPerSecond(2e7);
    for (P2pFit& f : cluster_.p2p) f.bandwidth = BytesPerSecond(2e6);
  }
  FitInputs inputs() const {
    FitInputs in;
    in.model = &model_;
    in.cluster = &cluster_;
    in.profile = &profile_;
    in.global_batch = 8;
    in.options.runtime_buffer_bytes = 0;
    return in;
  }
  // Compute x `compute`, every DP collective x `dp` and every TP one x `tp` (sizes 2 and 4, one
  // multiplier for both placements).
  static estimator::TermScales per_use_truth(double compute, double dp, double tp) {
    estimator::TermScales truth;
    truth.compute = compute;
    for (int g : {2, 4})
      for (CollectiveOp op :
           {CollectiveOp::kAllReduce, CollectiveOp::kAllGather, CollectiveOp::kReduceScatter}) {
        truth.collectives.push_back({estimator::CommUse::kData, op, g, dp, std::nullopt});
        truth.collectives.push_back({estimator::CommUse::kTensor, op, g, tp, std::nullopt});
      }
    return truth;
  }
  // "Measurements" of every calibration plan made by the estimator itself with `truth`; a plan
  // it cannot predict is a test failure and left out.
  std::vector<std::pair<Strategy, double>> measured_with(const FitInputs& in,
                                                         const estimator::TermScales& truth) const {
    std::vector<std::pair<Strategy, double>> measured;
    for (const Strategy& s : calibration_plans(model_, 4, 8)) {
      StatusOr<double> ms = predict_ms(in, s, truth);
      if (!ms.ok()) {
        ADD_FAILURE() << ms.status().message();
        continue;
      }
      measured.emplace_back(s, *ms);
    }
    return measured;
  }
};

TEST_F(CalibrationTest, PlansCoverEveryFamilyOnce) {
  const std::vector<Strategy> plans = calibration_plans(model_, 4, 8);
  std::set<std::string> names;
  bool ddp4 = false, zero2 = false, zero3 = false, tp4 = false, pp4 = false, pp2 = false,
       ckpt = false, sp = false, zero3_dp2 = false, tp_strided = false, pp2_zero2 = false,
       pp2_tp2 = false, pp2_half = false;
  for (const Strategy& s : plans) {
    EXPECT_TRUE(validate(s, model_, "plan").ok()) << runner::plan_name(s);
    EXPECT_TRUE(names.insert(to_json(s).dump()).second) << "listed twice: " << runner::plan_name(s);
    const LayerStrategy& l = s.layers[0];
    for (const LayerStrategy& o : s.layers) EXPECT_EQ(o, l) << "not uniform";
    ddp4 |= s.pp == 1 && l.dp == 4 && l.dp_type == DpType::kDdp && !l.checkpoint;
    zero2 |= s.pp == 1 && l.dp == 4 && l.dp_type == DpType::kZero2;
    zero3 |= s.pp == 1 && l.dp == 4 && l.dp_type == DpType::kZero3;
    // ZeRO-3's per-layer gathers over a 2-device DP group (TP 2 beside it)
    zero3_dp2 |= s.pp == 1 && l.dp == 2 && l.tp == 2 && l.dp_type == DpType::kZero3;
    ckpt |= l.checkpoint;
    tp4 |= l.tp == 4;
    sp |= l.sp;
    pp4 |= s.pp == 4;
    pp2 |= s.pp == 2;
    // round 24: TP over strided ranks beside DDP, ZeRO-2 and TP 2 inside a 2-stage pipeline
    tp_strided |= s.pp == 1 && l.tp == 2 && l.dp == 2 && !l.tp_consecutive &&
                  l.dp_type == DpType::kDdp;
    pp2_zero2 |= s.pp == 2 && l.tp == 1 && l.dp == 2 && l.dp_type == DpType::kZero2;
    pp2_tp2 |= s.pp == 2 && l.tp == 2;
    // round 25: the 2-stage DDP pipeline at 2 micro-batches as well as at 4 (2 samples a rank per
    // micro-batch where every other plan has 1)
    pp2_half |= s.pp == 2 && l.tp == 1 && l.dp == 2 && l.dp_type == DpType::kDdp &&
                s.micro_batches == 2;
  }
  EXPECT_TRUE(ddp4 && zero2 && zero3 && zero3_dp2 && tp4 && pp4 && pp2 && ckpt && sp);
  EXPECT_TRUE(tp_strided && pp2_zero2 && pp2_tp2 && pp2_half);
  EXPECT_EQ(runner::plan_name(plans.back()), "pp2-m2 tp1-dp2");
  EXPECT_GE(plans.size(), 8u);
  EXPECT_LE(plans.size(), 16u);
  // Two devices: fewer families, still more than one plan.
  EXPECT_GE(calibration_plans(model_, 2, 8).size(), 2u);
}

TEST_F(CalibrationTest, FitRecoversKnownScales) {
  // "Measurements" made by the estimator itself with known multipliers: the fit must bring the
  // predictions back to them.
  estimator::TermScales truth;
  truth.compute = 1.4;
  truth.pipeline = 1.8;
  truth.checkpoint = 0.6;
  truth.collectives = {
      {estimator::CommUse::kData, CollectiveOp::kAllReduce, 4, 1.6, std::nullopt},
      {estimator::CommUse::kData, CollectiveOp::kReduceScatter, 4, 2.0, std::nullopt}};
  const FitInputs in = inputs();
  std::vector<std::pair<Strategy, double>> measured = measured_with(in, truth);
  ASSERT_EQ(measured.size(), calibration_plans(model_, 4, 8).size());
  StatusOr<Calibration> c = fit_calibration(in, measured);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_GT(c->log_rms_before, 0.1) << describe(c->scales);
  EXPECT_LT(c->log_rms_after, 0.03);
  for (const CalibrationRun& r : c->runs)
    EXPECT_NEAR(r.calibrated_ms / r.measured_ms, 1.0, 0.06) << r.plan;
  EXPECT_NEAR(c->scales.compute, 1.4, 0.15);
  EXPECT_NEAR(c->scales.pipeline, 1.8, 0.3);
  // The checkpointed first forward is a small part of the one checkpointed plan's time here
  // (5 ms collective latencies dominate), so the penalty holds the scale partly at 1: it must
  // move towards the truth (measured: 0.86), and that plan's time is matched above.
  EXPECT_LT(c->scales.checkpoint, 0.95);
  EXPECT_GT(c->scales.checkpoint, 0.5);
  const Placement kIntra = Placement::kIntraIsland;
  EXPECT_NEAR(c->scales.collective(estimator::CommUse::kData, CollectiveOp::kAllReduce, 4, kIntra),
              1.6, 0.3);
  EXPECT_NEAR(
      c->scales.collective(estimator::CommUse::kData, CollectiveOp::kReduceScatter, 4, kIntra), 2.0,
      0.4);
  // By default one multiplier covers both placements (written without one).
  ASSERT_FALSE(c->scales.collectives.empty());
  for (const estimator::CollectiveScale& s : c->scales.collectives)
    EXPECT_FALSE(s.placement.has_value()) << describe(c->scales);
  // Per placement on one island: the same fit, every scale an inside-island one; none across.
  FitInputs placed = in;
  placed.per_placement = true;
  StatusOr<Calibration> p = fit_calibration(placed, measured);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_LT(p->log_rms_after, 0.03);
  ASSERT_EQ(p->scales.collectives.size(), c->scales.collectives.size()) << describe(p->scales);
  for (const estimator::CollectiveScale& s : p->scales.collectives)
    EXPECT_EQ(s.placement, kIntra) << describe(p->scales);
  EXPECT_NE(describe(p->scales).find("dp allreduce/4 intra x"), std::string::npos)
      << describe(p->scales);
  EXPECT_NEAR(p->scales.collective(estimator::CommUse::kData, CollectiveOp::kAllReduce, 4, kIntra),
              1.6, 0.3);
  EXPECT_EQ(c->cluster_digest, digest(to_json(cluster_)));
  EXPECT_TRUE(check_matches(*c, cluster_, profile_, "cal.json").ok());
}

// TermScales::call_ms (round 22): fixed by FitInputs::call_ms, or fitted with per_call; kept in
// the file only when it is not 0.
TEST_F(CalibrationTest, CallTimeFixedOrFitted) {
  estimator::TermScales truth;
  truth.compute = 1.2;
  truth.call_ms = 0.6;
  FitInputs in = inputs();
  std::vector<std::pair<Strategy, double>> measured = measured_with(in, truth);
  ASSERT_EQ(measured.size(), calibration_plans(model_, 4, 8).size());
  // Off by default: nothing adds a call time.
  StatusOr<Calibration> off = fit_calibration(in, measured);
  ASSERT_TRUE(off.ok()) << off.status().message();
  EXPECT_EQ(off->scales.call_ms, 0.0);
  EXPECT_FALSE(to_json(*off)["scales"].contains("call_ms"));
  // Fixed at the truth: the fit needs only the compute scale.
  in.call_ms = 0.6;
  StatusOr<Calibration> fixed = fit_calibration(in, measured);
  ASSERT_TRUE(fixed.ok()) << fixed.status().message();
  EXPECT_EQ(fixed->scales.call_ms, 0.6);
  EXPECT_LT(fixed->log_rms_after, 0.01) << describe(fixed->scales);
  EXPECT_NEAR(fixed->scales.compute, 1.2, 0.05);
  EXPECT_NE(describe(fixed->scales).find("+0.600 ms per call"), std::string::npos);
  const Json j = to_json(*fixed);
  EXPECT_EQ(j["scales"]["call_ms"], 0.6);
  StatusOr<Calibration> back = calibration_from_json(j, "cal.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->scales.call_ms, 0.6);
  Json bad = j;
  bad["scales"]["call_ms"] = -1;
  StatusOr<Calibration> e = calibration_from_json(bad, "cal.json");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("scales.call_ms"), std::string::npos);
  // Fitted from 0: it moves up towards the truth and the fit is better than without it.
  in.call_ms = 0;
  in.per_call = true;
  StatusOr<Calibration> fitted = fit_calibration(in, measured);
  ASSERT_TRUE(fitted.ok()) << fitted.status().message();
  EXPECT_GT(fitted->scales.call_ms, 0.1) << describe(fitted->scales);
  EXPECT_LT(fitted->log_rms_after, off->log_rms_after) << describe(fitted->scales);
}

// TermScales::granularity (round 25): fitted by default; kept in the file only when it is not 0.
// Every calibration plan but the last computes 1 sample a rank per micro-batch over its tp,
// where the exponent changes nothing; the last (pp2-m2, 2 samples) is what tells it apart.
TEST_F(CalibrationTest, GranularityFittedFromTheHalfMicroBatchPlan) {
  estimator::TermScales truth;
  truth.compute = 1.3;
  truth.granularity = 0.15;
  truth.granularity_hi = 2;
  FitInputs in = inputs();
  ASSERT_TRUE(in.per_granularity);  // the default
  std::vector<std::pair<Strategy, double>> measured = measured_with(in, truth);
  ASSERT_EQ(runner::plan_name(measured.back().first), "pp2-m2 tp1-dp2");
  StatusOr<Calibration> fitted = fit_calibration(in, measured);
  ASSERT_TRUE(fitted.ok()) << fitted.status().message();
  EXPECT_NEAR(fitted->scales.granularity, 0.15, 0.03) << describe(fitted->scales);
  EXPECT_NEAR(fitted->scales.compute, 1.3, 0.05) << describe(fitted->scales);
  EXPECT_LT(fitted->log_rms_after, 0.01) << describe(fitted->scales);
  EXPECT_NE(describe(fitted->scales).find("granularity +0.1"), std::string::npos)
      << describe(fitted->scales);
  // Fitted over the sizes the plans span (1 and 2 samples a rank), and held there.
  EXPECT_EQ(fitted->scales.granularity_lo, 1.0);
  EXPECT_EQ(fitted->scales.granularity_hi, 2.0);
  // Off: it stays 0, the fit is worse, and the file has no such field.
  in.per_granularity = false;
  StatusOr<Calibration> off = fit_calibration(in, measured);
  ASSERT_TRUE(off.ok()) << off.status().message();
  EXPECT_EQ(off->scales.granularity, 0.0);
  EXPECT_GT(off->log_rms_after, fitted->log_rms_after) << describe(off->scales);
  EXPECT_FALSE(to_json(*off)["scales"].contains("granularity"));
  // Without the plan of 2 samples a rank nothing tells it apart: it stays 0.
  in.per_granularity = true;
  std::vector<std::pair<Strategy, double>> same(measured.begin(), measured.end() - 1);
  StatusOr<Calibration> alone = fit_calibration(in, same);
  ASSERT_TRUE(alone.ok()) << alone.status().message();
  EXPECT_EQ(alone->scales.granularity, 0.0) << describe(alone->scales);
  // The file keeps it; out of [-1, 1] is an error that names the field.
  const Json j = to_json(*fitted);
  EXPECT_EQ(j["scales"]["granularity"], fitted->scales.granularity);
  StatusOr<Calibration> back = calibration_from_json(j, "cal.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->scales.granularity, fitted->scales.granularity);
  EXPECT_EQ(back->scales.granularity_hi, 2.0);
  Json bad = j;
  bad["scales"]["granularity"] = 1.5;
  StatusOr<Calibration> e = calibration_from_json(bad, "cal.json");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("scales.granularity"), std::string::npos);
}

TEST_F(CalibrationTest, TiedCollectivesShareOneMultiplierPerGroup) {
  // Measurements made with one multiplier for all of DP's collectives and one for TP's: a by-use
  // fit recovers them with every entry of a use at one value; by-op ties each op's sizes.
  estimator::TermScales truth = per_use_truth(1.3, 1.7, 0.7);
  FitInputs in = inputs();
  std::vector<std::pair<Strategy, double>> measured = measured_with(in, truth);
  ASSERT_EQ(measured.size(), calibration_plans(model_, 4, 8).size());
  const Placement kIntra = Placement::kIntraIsland;
  in.collective_groups = CollectiveGroups::kByUse;
  StatusOr<Calibration> c = fit_calibration(in, measured);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_LT(c->log_rms_after, 0.03) << describe(c->scales);
  EXPECT_NEAR(c->scales.compute, 1.3, 0.15);
  std::vector<double> dp, tp;
  for (const estimator::CollectiveScale& s : c->scales.collectives)
    (s.use == estimator::CommUse::kData ? dp : tp).push_back(s.scale);
  // Every op at every size of both uses is written (the group's value is the fit's answer for
  // a size no calibration plan uses), all at one value per use.
  ASSERT_EQ(dp.size(), 6u) << describe(c->scales);
  ASSERT_EQ(tp.size(), 6u) << describe(c->scales);
  for (double v : dp) EXPECT_EQ(v, dp.front());
  for (double v : tp) EXPECT_EQ(v, tp.front());
  EXPECT_NEAR(dp.front(), 1.7, 0.3);
  EXPECT_NEAR(tp.front(), 0.7, 0.15);
  EXPECT_NE(describe(c->scales).find("dp collectives x"), std::string::npos) << describe(c->scales);
  EXPECT_EQ(describe(c->scales).find("allreduce"), std::string::npos) << describe(c->scales);

  // Nested with a deviation penalty so strong that no entry leaves its use: the by-use answer.
  in.collective_groups = CollectiveGroups::kNested;
  in.deviation_penalty = 1e6;
  StatusOr<Calibration> n = fit_calibration(in, measured);
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_NEAR(n->scales.collective(estimator::CommUse::kData, CollectiveOp::kAllGather, 4, kIntra),
              dp.front(), 0.05);
  EXPECT_NEAR(n->scales.collective(estimator::CommUse::kTensor, CollectiveOp::kAllReduce, 2, kIntra),
              tp.front(), 0.05);

  // By op: a truth that differs per op but not per size is matched; each op's sizes share it.
  for (estimator::CollectiveScale& s : truth.collectives)
    if (s.use == estimator::CommUse::kData && s.op == CollectiveOp::kReduceScatter) s.scale = 0.6;
  measured = measured_with(in, truth);
  ASSERT_EQ(measured.size(), calibration_plans(model_, 4, 8).size());
  in.collective_groups = CollectiveGroups::kByOp;
  StatusOr<Calibration> o = fit_calibration(in, measured);
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_LT(o->log_rms_after, 0.03) << describe(o->scales);
  const double rs2 =
      o->scales.collective(estimator::CommUse::kData, CollectiveOp::kReduceScatter, 2, kIntra);
  const double rs4 =
      o->scales.collective(estimator::CommUse::kData, CollectiveOp::kReduceScatter, 4, kIntra);
  EXPECT_EQ(rs2, rs4);
  EXPECT_LT(rs4, 0.9) << describe(o->scales);
  // The by-use fit cannot: one value for DP's reduce-scatter and its allreduce leaves an error.
  in.collective_groups = CollectiveGroups::kByUse;
  StatusOr<Calibration> u = fit_calibration(in, measured);
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_GT(u->log_rms_after, o->log_rms_after) << describe(u->scales);
}

// Per placement as a deviation (round 26): on two islands, each placement's multiplier is the
// shared one times its own factor held near 1. A placement that no calibration plan runs takes
// the shared value, where the plain per-placement fit leaves it out (1).
TEST_F(CalibrationTest, PlacementDeviationGivesUnrunPlacementsTheSharedValue) {
  cluster_ = et::two_level_cluster(2, 2);
  for (Placement pl : {Placement::kIntraIsland, Placement::kInterIsland})
    for (int n : {2, 4}) {
      if (pl == Placement::kIntraIsland && n > 2) continue;
      for (CollectiveOp op : {CollectiveOp::kAllGather, CollectiveOp::kReduceScatter})
        for (bool cons : {true, false}) cluster_.collectives.push_back(et::fit(op, n, pl, cons, 5));
    }
  for (CollectiveFit& f : cluster_.collectives) f.bus_bandwidth = BytesPerSecond(2e7);
  for (P2pFit& f : cluster_.p2p) f.bandwidth = BytesPerSecond(2e6);
  // One multiplier per (use, op, size) for both placements.
  const estimator::TermScales truth = per_use_truth(1.3, 1.8, 0.6);
  FitInputs in = inputs();
  const std::vector<std::pair<Strategy, double>> measured = measured_with(in, truth);
  ASSERT_EQ(measured.size(), calibration_plans(model_, 4, 8).size());
  in.per_placement = true;
  StatusOr<Calibration> plain = fit_calibration(in, measured);
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  in.placement_deviation = true;
  StatusOr<Calibration> dev = fit_calibration(in, measured);
  ASSERT_TRUE(dev.ok()) << dev.status().message();
  EXPECT_LT(dev->log_rms_after, 0.03) << describe(dev->scales);
  EXPECT_TRUE(dev->placement_deviation);
  EXPECT_FALSE(plain->placement_deviation);
  auto has = [](const Calibration& c, const estimator::CollectiveScale& e, Placement pl) {
    for (const estimator::CollectiveScale& s : c.scales.collectives)
      if (s.use == e.use && s.op == e.op && s.group_size == e.group_size && s.placement == pl)
        return true;
    return false;
  };
  // Every entry of the deviation fit is placed. One whose placement the plain fit has not (no
  // plan runs it) but whose other placement it has takes that other placement's value (the
  // shared one: its own factor stays at 1), where the plain fit leaves it at 1.
  std::vector<std::string> unrun;
  for (const estimator::CollectiveScale& e : dev->scales.collectives) {
    ASSERT_TRUE(e.placement.has_value()) << describe(dev->scales);
    const Placement other = *e.placement == Placement::kIntraIsland ? Placement::kInterIsland
                                                                    : Placement::kIntraIsland;
    if (has(*plain, e, *e.placement) || !has(*plain, e, other)) continue;
    const std::string name = estimator::to_string(e.use) + std::string(" ") + to_string(e.op) +
                             "/" + std::to_string(e.group_size) + " " + to_string(*e.placement);
    unrun.push_back(name);
    const double shared = dev->scales.collective(e.use, e.op, e.group_size, other);
    EXPECT_NEAR(e.scale / shared, 1.0, 0.05) << name << ": " << describe(dev->scales);
    EXPECT_EQ(plain->scales.collective(e.use, e.op, e.group_size, *e.placement), 1.0) << name;
    // DP's allreduce is a large share of the plans' time here: its value is the truth's.
    if (e.use == estimator::CommUse::kData && e.op == CollectiveOp::kAllReduce)
      EXPECT_NEAR(e.scale, 1.8, 0.3) << name << ": " << describe(dev->scales);
  }
  EXPECT_FALSE(unrun.empty()) << "no placement left unrun by the calibration plans: "
                              << describe(plain->scales);
  std::string names;
  for (const std::string& n : unrun) names += n + "; ";
  std::printf("placements no plan runs: %s\n", names.c_str());
  // Written to the file and read back.
  const Json j = to_json(*dev);
  EXPECT_EQ(j["fit"]["placement_deviation"], true);
  StatusOr<Calibration> back = calibration_from_json(j, "cal.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(back->placement_deviation);
  EXPECT_FALSE(to_json(*plain)["fit"].contains("placement_deviation"));
}

TEST(CollectiveGroupsNames, RoundTripAndRejectUnknown) {
  for (CollectiveGroups g : {CollectiveGroups::kBySize, CollectiveGroups::kByOp,
                             CollectiveGroups::kByUse, CollectiveGroups::kNested}) {
    StatusOr<CollectiveGroups> back = collective_groups_from_string(to_string(g));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, g);
  }
  StatusOr<CollectiveGroups> bad = collective_groups_from_string("per-use");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'per-use'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("by-use"), std::string::npos);
}

TEST_F(CalibrationTest, FitRejectsTooFewOrBadRuns) {
  const std::vector<Strategy> plans = calibration_plans(model_, 4, 8);
  EXPECT_FALSE(fit_calibration(inputs(), {{plans[0], 10.0}}).ok());
  StatusOr<Calibration> bad = fit_calibration(inputs(), {{plans[0], 10.0}, {plans[1], 0.0}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("measured time"), std::string::npos);
}

TEST_F(CalibrationTest, FileRoundTripAndErrors) {
  const std::vector<Strategy> plans = calibration_plans(model_, 4, 8);
  StatusOr<Calibration> c = fit_calibration(inputs(), {{plans[0], 12.0}, {plans[1], 30.0}});
  ASSERT_TRUE(c.ok()) << c.status().message();
  const Json j = to_json(*c);
  StatusOr<Calibration> back = calibration_from_json(j, "cal.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(to_json(*back), j);
  EXPECT_EQ(back->runs.size(), 2u);

  Json bad = j;
  bad["scales"]["compute"] = -1;
  StatusOr<Calibration> e = calibration_from_json(bad, "cal.json");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("cal.json"), std::string::npos);
  EXPECT_NE(e.status().message().find("scales.compute"), std::string::npos);
  bad = j;
  bad["scales"]["collectives"] =
      Json::array({{{"use", "dp"}, {"op", "allreduce"}, {"group_size", 4}, {"scale", 2}},
                   {{"use", "dp"}, {"op", "allreduce"}, {"group_size", 4}, {"scale", 3}}});
  e = calibration_from_json(bad, "cal.json");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("listed twice"), std::string::npos);
  // A collective's "placement" is optional (files written before it existed: both placements)
  // and must name one.
  bad = j;
  bad["scales"]["collectives"] =
      Json::array({{{"use", "dp"}, {"op", "allreduce"}, {"group_size", 4}, {"scale", 2}},
                   {{"use", "dp"},
                    {"op", "allreduce"},
                    {"group_size", 4},
                    {"scale", 3},
                    {"placement", "inter"}}});
  StatusOr<Calibration> mixed = calibration_from_json(bad, "cal.json");
  ASSERT_TRUE(mixed.ok()) << mixed.status().message();
  EXPECT_EQ(mixed->scales.collective(estimator::CommUse::kData, CollectiveOp::kAllReduce, 4,
                                     Placement::kIntraIsland),
            2.0);
  EXPECT_EQ(mixed->scales.collective(estimator::CommUse::kData, CollectiveOp::kAllReduce, 4,
                                     Placement::kInterIsland),
            3.0);
  EXPECT_EQ(to_json(*mixed)["scales"]["collectives"], bad["scales"]["collectives"]);
  bad["scales"]["collectives"][1]["placement"] = "across";
  e = calibration_from_json(bad, "cal.json");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("placement"), std::string::npos) << e.status().message();
  // "checkpoint" is optional (files written before it existed: 1) and range-checked.
  bad = j;
  bad["scales"].erase("checkpoint");
  StatusOr<Calibration> old = calibration_from_json(bad, "cal.json");
  ASSERT_TRUE(old.ok()) << old.status().message();
  EXPECT_EQ(old->scales.checkpoint, 1.0);
  bad = j;
  bad["scales"]["checkpoint"] = 40;
  e = calibration_from_json(bad, "cal.json");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("scales.checkpoint"), std::string::npos);
  // The fit's grouping: absent for the default (files of older builds), written otherwise, and
  // read back; an unknown grouping is named.
  EXPECT_FALSE(j["fit"].contains("collective_groups"));
  EXPECT_FALSE(j["fit"].contains("per_placement"));
  EXPECT_EQ(back->collective_groups, CollectiveGroups::kBySize);
  FitInputs by_use = inputs();
  by_use.collective_groups = CollectiveGroups::kByUse;
  by_use.per_placement = true;
  StatusOr<Calibration> u = fit_calibration(by_use, {{plans[0], 12.0}, {plans[1], 30.0}});
  ASSERT_TRUE(u.ok()) << u.status().message();
  const Json uj = to_json(*u);
  EXPECT_EQ(uj["fit"]["collective_groups"], "by-use");
  EXPECT_EQ(uj["fit"]["per_placement"], true);
  StatusOr<Calibration> uback = calibration_from_json(uj, "cal.json");
  ASSERT_TRUE(uback.ok()) << uback.status().message();
  EXPECT_EQ(uback->collective_groups, CollectiveGroups::kByUse);
  EXPECT_TRUE(uback->per_placement);
  EXPECT_EQ(to_json(*uback), uj);
  bad = uj;
  bad["fit"]["collective_groups"] = "per-use";
  e = calibration_from_json(bad, "cal.json");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("fit.collective_groups"), std::string::npos)
      << e.status().message();
  bad = j;
  bad["kind"] = "cluster";
  EXPECT_FALSE(calibration_from_json(bad, "cal.json").ok());
  bad = j;
  bad["extra"] = 1;
  e = calibration_from_json(bad, "cal.json");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("extra"), std::string::npos);
}

TEST_F(CalibrationTest, BelongsToItsProfiles) {
  const std::vector<Strategy> plans = calibration_plans(model_, 4, 8);
  StatusOr<Calibration> c = fit_calibration(inputs(), {{plans[0], 12.0}, {plans[1], 30.0}});
  ASSERT_TRUE(c.ok());
  ClusterProfile other = cluster_;
  other.p2p[0].latency = Milliseconds(0.5);
  Status st = check_matches(*c, other, profile_, "cal.json");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("cluster_digest"), std::string::npos);
  ModelProfile p = profile_;
  p.layer_types[0].compute[0].forward = Milliseconds(9);
  st = check_matches(*c, cluster_, p, "cal.json");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("profile_digest"), std::string::npos);
}

TEST(Describe, ListsOnlyScalesThatMove) {
  estimator::TermScales s;
  EXPECT_EQ(describe(s), "all 1");
  s.compute = 1.25;
  s.checkpoint = 0.5;
  s.collectives = {{estimator::CommUse::kData, CollectiveOp::kReduceScatter, 4, 2.0, std::nullopt}};
  EXPECT_EQ(describe(s), "compute x1.25, checkpoint x0.50, dp reduce_scatter/4 x2.00");
}

// Ctrl-C while a plan trains stops calibrate and the benches, not only that one run.
TEST(RunShell, ExitCodesAndInterrupts) {
  EXPECT_EQ(runner::run_shell("exit 0"), 0);
  EXPECT_EQ(runner::run_shell("exit 3"), 3);
  EXPECT_EQ(runner::run_shell("exit 137"),
            137);  // a rank killed (e.g. out of memory): a failed run
  EXPECT_EXIT(runner::run_shell("exit 130"), ::testing::ExitedWithCode(130), "interrupted");
  EXPECT_EXIT(runner::run_shell("kill -INT $$"), ::testing::ExitedWithCode(130), "interrupted");
  EXPECT_EXIT(runner::run_shell("kill -TERM $$"), ::testing::ExitedWithCode(143), "interrupted");
}

// An interrupted run exits through std::exit with a temporary folder alive: the folder is
// removed and the exit code is the signal's (the folder set used to be freed twice at exit).
TEST(RunShell, InterruptRemovesTemporaryFoldersAndKeepsTheCode) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh process: statics as in calibrate
  const std::string marker = ::testing::TempDir() + "run_shell_tempdir";
  std::remove(marker.c_str());
  EXPECT_EXIT(
      {
        runner::TempDir dir;
        std::ofstream(marker) << dir.path();
        runner::run_shell("exit 143");
      },
      ::testing::ExitedWithCode(143), "interrupted");
  std::ifstream in(marker);
  std::string path;
  ASSERT_TRUE(std::getline(in, path)) << marker;
  EXPECT_FALSE(path.empty());
  EXPECT_FALSE(std::filesystem::exists(path)) << path;
  std::remove(marker.c_str());
}

// `kill <pid of calibrate>` (not its process group): the running command is stopped too, and
// the caller ends with 128 + SIGTERM instead of leaving the command running on its own.
TEST(RunShell, StopSignalToTheCallerStopsTheCommand) {
  const std::string pidfile = ::testing::TempDir() + "run_shell_child.pid";
  std::remove(pidfile.c_str());
  EXPECT_EXIT(
      {
        std::thread([pidfile] {
          for (int i = 0; i < 500 && !std::filesystem::exists(pidfile); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          kill(getpid(), SIGTERM);
        }).detach();
        runner::run_shell("echo $$ > " + pidfile + "; exec sleep 30");
        std::exit(0);
      },
      ::testing::ExitedWithCode(143), "interrupted");
  std::ifstream in(pidfile);
  pid_t child = 0;
  ASSERT_TRUE(in >> child) << pidfile;
  // Gone (or a zombie waiting for a reaper) within 5 s, not still sleeping.
  const auto gone = [child] {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string pid, comm, state;
    return !(stat >> pid >> comm >> state) || state == "Z";
  };
  bool stopped = false;
  for (int i = 0; i < 500 && !(stopped = gone()); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(stopped) << "the command (pid " << child << ") still runs";
  if (!stopped) kill(child, SIGKILL);
  std::remove(pidfile.c_str());
}

}  // namespace
}  // namespace paratune::calibrate
