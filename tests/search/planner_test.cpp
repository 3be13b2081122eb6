// End-to-end tests of search(): against brute force over every plan of small instances, for
// determinism, agreement with estimate_plan, baselines and the infeasible-limit message.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <random>

#include "core/json_reader.h"
#include "estimator/analytic_profile.h"
#include "estimator/plan_estimate.h"
#include "search/baselines.h"
#include "search/planner.h"

namespace paratune::search {
namespace {

namespace est = paratune::estimator;

std::string repo(const std::string& rel) {
  const char* d = std::getenv("PARATUNE_SOURCE_DIR");
  return (d ? std::string(d) : std::string(".")) + "/" + rel;
}

struct Fixture {
  ModelConfig model;
  ClusterProfile cluster;
  ModelProfile profile;
};

Fixture tiny(int layers) {
  Fixture f;
  f.model = *load_model_config(repo("configs/models/tiny.json"));
  f.model.num_layers = layers;
  f.cluster = *load_cluster_profile(repo("configs/clusters/a100-80gb-2x8.json"));
  f.profile = est::analytic_profile(f.model, f.cluster);
  return f;
}

est::CostContext context(const Fixture& f, const Strategy& s, const SearchOptions& o) {
  est::CostContext ctx;
  ctx.model = &f.model;
  ctx.cluster = &f.cluster;
  ctx.profile = &f.profile;
  ctx.num_devices = s.num_devices;
  ctx.pp = s.pp;
  ctx.micro_batches = s.micro_batches;
  ctx.global_batch = s.global_batch;
  ctx.options = o.estimator;
  return ctx;
}

double peak_of(const est::PlanEstimate& e) {
  double p = 0;
  for (const auto& s : e.stages) p = std::max(p, s.peak_memory.value);
  return p;
}

struct Evaluated {
  double tput;
  double peak;
};

/// Every plan of the space for one batch: pp, M, embedding, partition, per-layer strategy.
std::vector<Evaluated> brute_force(const Fixture& f, const SearchOptions& o, int n, int batch,
                                   bool pp1_only) {
  std::vector<Evaluated> out;
  for (int pp = 1; pp <= n && pp <= f.model.num_layers; pp *= 2) {
    if (pp1_only && pp > 1) break;
    const int g = n / pp;
    std::vector<LayerStrategy> cands =
        filter_for_model(enumerate_layer_strategies(g, o.tree), f.model);
    std::vector<LayerStrategy> embs;
    for (int t = 1; t <= g; t *= 2) {
      for (DpType ty : {DpType::kDdp, DpType::kZero2, DpType::kZero3}) {
        if (g / t == 1 && ty != DpType::kDdp) continue;
        LayerStrategy e;
        e.tp = t;
        e.dp = g / t;
        e.dp_type = ty;
        embs.push_back(e);
      }
    }
    // partitions of L into pp positive parts
    std::vector<std::vector<int>> parts;
    std::function<void(std::vector<int>, int)> rec = [&](std::vector<int> cur, int left) {
      if (static_cast<int>(cur.size()) == pp - 1) {
        if (left >= 1) {
          cur.push_back(left);
          parts.push_back(cur);
        }
        return;
      }
      for (int k = 1; k < left; ++k) {
        cur.push_back(k);
        rec(cur, left - k);
        cur.pop_back();
      }
    };
    rec({}, f.model.num_layers);
    const int L = f.model.num_layers;
    for (int m = 1; m <= batch; ++m) {
      if (batch % m) continue;
      for (const auto& e : embs)
        for (const auto& part : parts) {
          std::vector<int> idx(L, 0);
          for (;;) {
            Strategy s;
            s.num_devices = n;
            s.pp = pp;
            s.global_batch = batch;
            s.micro_batches = m;
            s.embedding = e;
            s.pp_division = part;
            for (int l = 0; l < L; ++l) s.layers.push_back(cands[idx[l]]);
            if (validate(s, f.model, "bf").ok()) {
              auto r = est::estimate_plan(context(f, s, o), s);
              if (r.ok()) out.push_back({r->samples_per_s, peak_of(*r)});
            }
            int l = 0;
            while (l < L && ++idx[l] == static_cast<int>(cands.size())) idx[l++] = 0;
            if (l == L) break;
          }
        }
    }
  }
  return out;
}

SearchOptions options(double limit, int batch, int devices) {
  SearchOptions o;
  o.memory_per_device = Bytes(limit);
  o.global_batches = {batch};
  o.num_devices = devices;
  o.memory_buckets = 4096;
  o.threads = 1;
  o.estimator.runtime_buffer_bytes = 0;
  return o;
}

// With one pipeline stage the per-stage DP objective (M * micro + sync) is exactly the 1F1B
// iteration time, so the search must find the brute-force optimum (up to the DP's memory
// rounding: plans within 1% of the limit may be missed, never plans above it accepted).
TEST(Planner, EqualsBruteForceWithOneStage) {
  Fixture f = tiny(3);
  SearchOptions probe = options(1e12, 4, 2);
  probe.pp_degrees = {1};
  std::vector<Evaluated> all = brute_force(f, probe, 2, 4, /*pp1_only=*/true);
  ASSERT_GT(all.size(), 1000u);
  std::vector<double> peaks;
  for (const auto& e : all) peaks.push_back(e.peak);
  std::sort(peaks.begin(), peaks.end());
  int checked = 0;
  for (double q : {0.02, 0.1, 0.3, 0.6, 1.0}) {
    const double limit = peaks[std::min(peaks.size() - 1, static_cast<size_t>(q * (peaks.size() - 1)))] * 1.0001;
    SearchOptions o = probe;
    o.memory_per_device = Bytes(limit);
    double best = 0, best_slack = 0;
    for (const auto& e : all) {
      if (e.peak <= limit) best = std::max(best, e.tput);
      if (e.peak <= 0.99 * limit) best_slack = std::max(best_slack, e.tput);
    }
    StatusOr<SearchResult> r = search(f.model, f.cluster, f.profile, o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    const double got = r->estimate.samples_per_s;
    std::printf("  limit %.3f MiB: %zu plans, search %.6f samples/s, brute force %.6f\n",
                limit / kMiB, all.size(), got, best);
    EXPECT_LE(peak_of(r->estimate), limit) << "limit quantile " << q;
    EXPECT_LE(got, best * (1 + 1e-9)) << "search beats brute force: brute force is wrong";
    EXPECT_GE(got, best_slack * (1 - 1e-9)) << "limit quantile " << q;
    ++checked;
  }
  EXPECT_EQ(checked, 5);
}

// At three limits (quantiles of the brute-force peaks): the searched plan fits, never beats
// brute force, and is within 5% of it; `check` sees each search result.
void expect_close_to_brute_force(const Fixture& f,
                                 const std::function<void(const SearchResult&,
                                                          const SearchOptions&)>& check = {}) {
  SearchOptions probe = options(1e12, 4, 2);
  std::vector<Evaluated> all = brute_force(f, probe, 2, 4, /*pp1_only=*/false);
  std::vector<double> peaks;
  for (const auto& e : all) peaks.push_back(e.peak);
  std::sort(peaks.begin(), peaks.end());
  for (double q : {0.05, 0.3, 1.0}) {
    const double limit = peaks[static_cast<size_t>(q * (peaks.size() - 1))] * 1.0001;
    SearchOptions o = probe;
    o.memory_per_device = Bytes(limit);
    double best = 0, best_slack = 0;
    for (const auto& e : all) {
      if (e.peak <= limit) best = std::max(best, e.tput);
      if (e.peak <= 0.99 * limit) best_slack = std::max(best_slack, e.tput);
    }
    StatusOr<SearchResult> r = search(f.model, f.cluster, f.profile, o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_LE(peak_of(r->estimate), limit);
    EXPECT_LE(r->estimate.samples_per_s, best * (1 + 1e-9));
    EXPECT_GE(r->estimate.samples_per_s, 0.95 * best_slack) << "limit quantile " << q;
    if (check) check(*r, o);
  }
}

// With pipelines the stage DP scalarises a stage as M * micro + sync; the plan must still fit,
// never beat brute force, and on these instances be within 5% of it.
TEST(Planner, CloseToBruteForceWithPipelines) { expect_close_to_brute_force(tiny(4)); }

// Ranks sharing a host's cores (CPU ranks): the iteration is max(T1, T2) (estimator/pipeline.cpp),
// of which the partition search minimises T1; the plan must still fit, never beat brute force
// (which estimates every plan with the same model), and be within 5% of it.
TEST(Planner, CloseToBruteForceWithHostSharing) {
  Fixture f = tiny(4);
  f.cluster.host_sharing = HostSharing{16, 4.0};
  int pipelined_wins = 0;
  expect_close_to_brute_force(f, [&](const SearchResult& r, const SearchOptions& o) {
    if (r.strategy.pp > 1) ++pipelined_wins;
    // The same plan without sharing is never faster: sharing only frees cores in bubbles.
    ClusterProfile plain = f.cluster;
    plain.host_sharing = HostSharing{};
    Fixture g{f.model, plain, f.profile};
    auto e = est::estimate_plan(context(g, r.strategy, o), r.strategy);
    ASSERT_TRUE(e.ok());
    EXPECT_GE(e->iteration.value, r.estimate.iteration.value * (1 - 1e-12));
  });
  std::printf("  %d of 3 limits chose a pipeline\n", pipelined_wins);
}

// Ranks bound one CPU each (host_sharing.cpus): T2 is the 1F1B schedule on the CPUs. The
// search's own composition must agree with estimate_plan (search() checks it), and the plan fit
// and stay within 5% of brute force.
TEST(Planner, CloseToBruteForceWithRanksBoundToCpus) {
  Fixture f = tiny(4);
  f.cluster.host_sharing = HostSharing{16, 4.0};
  for (int r = 0; r < 16; ++r) f.cluster.host_sharing.cpus.push_back(r % 4);
  // A backward 1.7x the analytic one: the stages' forward share is not the analytic 1/3.
  for (LayerTypeProfile& l : f.profile.layer_types)
    for (ComputePoint& c : l.compute) c.backward = c.backward * 1.7;
  int pipelined_wins = 0;
  expect_close_to_brute_force(f, [&](const SearchResult& r, const SearchOptions& o) {
    if (r.strategy.pp > 1) ++pipelined_wins;
    auto e = est::estimate_plan(context(f, r.strategy, o), r.strategy);
    ASSERT_TRUE(e.ok());
    EXPECT_NEAR(e->iteration.value, r.estimate.iteration.value, 1e-9 * e->iteration.value);
  });
  std::printf("  %d of 3 limits chose a pipeline\n", pipelined_wins);
}

TEST(Planner, DeterministicAcrossRunsAndThreads) {
  Fixture f = tiny(4);
  f.model.num_layers = 8;
  f.profile = est::analytic_profile(f.model, f.cluster);
  SearchOptions o = options(64 * kMiB, 32, 16);
  o.global_batches = {16, 32};
  std::string first;
  for (int threads : {1, 2, 1, 3}) {
    o.threads = threads;
    StatusOr<SearchResult> r = search(f.model, f.cluster, f.profile, o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    const std::string text = dump_json(to_json(r->strategy));
    if (first.empty()) first = text;
    EXPECT_EQ(text, first) << "threads " << threads;
  }
}

TEST(Planner, SearchAndEstimateAgree) {
  Fixture f = tiny(6);
  SearchOptions o = options(48 * kMiB, 16, 8);
  StatusOr<SearchResult> r = search(f.model, f.cluster, f.profile, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  // Written and read back, then estimated: the same figures.
  StatusOr<Strategy> back = strategy_from_json(Json::parse(dump_json(to_json(r->strategy))), "s.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, r->strategy);
  auto e = est::estimate_plan(context(f, *back, o), *back);
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(back->predicted.has_value());
  EXPECT_NEAR(e->iteration.value, back->predicted->iteration.value, 1e-9 * e->iteration.value);
  ASSERT_EQ(e->stages.size(), back->predicted->stage_peak_memory.size());
  for (size_t s = 0; s < e->stages.size(); ++s)
    EXPECT_DOUBLE_EQ(e->stages[s].peak_memory.value, back->predicted->stage_peak_memory[s].value);
}

TEST(Planner, NeverSlowerThanBaselinesThatFit) {
  Fixture f = tiny(8);
  for (double limit_mib : {16.0, 32.0, 256.0}) {
    SearchOptions o = options(limit_mib * kMiB, 32, 16);
    StatusOr<SearchResult> r = search(f.model, f.cluster, f.profile, o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    int fitting = 0;
    for (const auto& b : run_baselines(f.model, f.cluster, f.profile, o, 16, 32)) {
      if (!b.strategy) continue;
      ++fitting;
      EXPECT_LE(peak_of(*b.estimate), o.memory_per_device.value);
      // Baselines are points of the search space; the DP's memory rounding may only hide a
      // baseline that sits within 1% of the limit.
      if (peak_of(*b.estimate) <= 0.99 * o.memory_per_device.value) {
        EXPECT_GE(r->estimate.samples_per_s, b.estimate->samples_per_s * (1 - 1e-9))
            << b.name << " at " << limit_mib << " MiB";
      }
    }
    if (limit_mib >= 256) {
      EXPECT_EQ(fitting, 3);
    }
  }
}

TEST(Planner, InfeasibleNamesTheSmallestLimitThatWorks) {
  Fixture f = tiny(4);
  SearchOptions o = options(1 * kKiB, 16, 8);
  StatusOr<SearchResult> r = search(f.model, f.cluster, f.profile, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInfeasible);
  const std::string& msg = r.status().message();
  const size_t at = msg.find("--memory-per-device ");
  ASSERT_NE(at, std::string::npos) << msg;
  size_t used = 0;
  const double amount = std::stod(msg.substr(at + 20), &used);
  const std::string unit = msg.substr(at + 20 + used, 3);
  ASSERT_TRUE(unit == "KiB" || unit == "MiB") << msg;
  const double mib = amount * (unit == "KiB" ? kKiB : kMiB) / kMiB;
  SearchOptions ok = o;
  ok.memory_per_device = Bytes(mib * kMiB);
  EXPECT_TRUE(search(f.model, f.cluster, f.profile, ok).ok()) << msg;
  SearchOptions too_small = o;
  too_small.memory_per_device = Bytes(0.95 * mib * kMiB);
  EXPECT_FALSE(search(f.model, f.cluster, f.profile, too_small).ok()) << msg;
}

TEST(Planner, RejectsDevicesThatDoNotFit) {
  Fixture f = tiny(4);
  SearchOptions o = options(1e9, 16, 32);
  StatusOr<SearchResult> r = search(f.model, f.cluster, f.profile, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("does not fit the cluster"), std::string::npos);
  o.num_devices = 6;
  r = search(f.model, f.cluster, f.profile, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("power of two"), std::string::npos);
}

}  // namespace
}  // namespace paratune::search
