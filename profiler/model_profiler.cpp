#include "profiler/model_profiler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <thread>

#include <time.h>

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "executor/rendezvous.h"
#include "executor/tracking_allocator.h"
#include "models/adam.h"
#include "models/init.h"
#include "models/param_spec.h"
#include "models/transformer.h"
#include "profiler/cluster_profiler.h"
#include "profiler/fit.h"
#include "profiler/progress.h"

namespace paratune::profiler {

namespace {

using models::UnitKind;
using Clock = std::chrono::steady_clock;

// TP rank 0's local shapes without communication: enter/exit are identities (with SP they
// gather / scatter the sequence locally, so tensor sizes match a real SP layer).
class ShardShapeHooks : public models::TpHooks {
 public:
  ShardShapeHooks(int tp, bool sp) : tp_(tp), sp_(sp && tp > 1) {}
  int size() const override { return tp_; }
  bool sp() const override { return sp_; }
  at::Tensor enter(const at::Tensor& x) override {
    if (!sp_) return x;
    std::vector<at::Tensor> parts(tp_, x);
    return at::cat(parts, 1);
  }
  at::Tensor exit(const at::Tensor& x) override {
    return sp_ ? x.narrow(1, 0, x.size(1) / tp_).contiguous() : x;
  }
  at::Tensor vocab_parallel_ce(const at::Tensor& logits, const at::Tensor& targets,
                               int64_t) override {
    return at::nll_loss(at::log_softmax(logits, -1), targets.remainder(logits.size(-1)), {},
                        at::Reduction::None);
  }

 private:
  int tp_;
  bool sp_;
};

bool tp_fits(const ModelConfig& cfg, UnitKind kind, int t) {
  if (kind == UnitKind::kLayer)
    return cfg.heads % t == 0 && cfg.kv_heads % t == 0 && cfg.ffn_hidden % t == 0 &&
           cfg.seq_len % t == 0;
  return cfg.vocab % t == 0 && cfg.seq_len % t == 0;
}

const char* type_name(UnitKind k) {
  return k == UnitKind::kLayer ? "transformer" : k == UnitKind::kEmbedding ? "embedding" : "lm_head";
}

// One layer type at one tp shard: parameters and a runner for a micro-batch.
struct Bench {
  const ModelConfig& cfg;
  UnitKind kind;
  int tp;
  models::ParamMap params;
  at::Tensor lm_weight;  // head only

  Bench(const ModelConfig& c, UnitKind k, int t) : cfg(c), kind(k), tp(t) {
    const std::string unit = models::unit_name(kind, 0);
    for (const models::ParamSpec& s : models::unit_params(cfg, kind))
      params[s.name] = models::init_param_shard(s, 1, unit, tp, 0).requires_grad_(true);
    if (kind == UnitKind::kHead) {
      const auto specs = models::unit_params(cfg, cfg.tied_embeddings ? UnitKind::kEmbedding
                                                                        : UnitKind::kHead);
      for (const models::ParamSpec& s : specs)
        if (s.name == (cfg.tied_embeddings ? "tok" : "lm"))
          lm_weight = models::init_param_shard(s, 1, "lm", tp, 0).requires_grad_(true);
    }
  }

  at::Tensor input(int b, bool sp) const {
    if (kind == UnitKind::kEmbedding) return at::randint(cfg.vocab, {b, int64_t(cfg.seq_len)}, at::kLong);
    const int64_t s = sp ? cfg.seq_len / tp : cfg.seq_len;
    return at::randn({b, s, int64_t(cfg.hidden)}).requires_grad_(kind == UnitKind::kLayer || kind == UnitKind::kHead);
  }

  at::Tensor forward(const at::Tensor& x, bool sp) const {
    ShardShapeHooks hooks(tp, sp);
    switch (kind) {
      case UnitKind::kEmbedding: return models::embedding_forward(cfg, params, x, hooks);
      case UnitKind::kLayer: return models::layer_forward(cfg, params, x, hooks);
      case UnitKind::kHead: {
        // The full sequence: with SP the head gathers it before the logits.
        at::Tensor targets = at::randint(cfg.vocab, {x.size(0), int64_t(cfg.seq_len)}, at::kLong);
        return models::head_forward(cfg, params, lm_weight, x, targets, hooks);
      }
    }
    return {};
  }

  void backward(const at::Tensor& y) const {
    if (y.dim() == 0) y.backward();
    else y.backward(at::ones_like(y));
  }
};

void barrier(executor::Comms& comms) {
  if (comms.world_size() < 2) return;
  at::Tensor t = at::zeros({1});
  comms.world().allreduce_(t);
}

double since_ms(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// CPU time of the calling thread, ms (the compute thread when a rank has one).
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

// One timed call: wall and CPU ms.
struct Stopwatch {
  Clock::time_point wall0 = Clock::now();
  double cpu0 = thread_cpu_ms();
  double wall_ms() const { return since_ms(wall0); }
  double cpu_ms() const { return thread_cpu_ms() - cpu0; }
};

// Bytes kept for backward by one forward of b samples (see the header).
double kept_bytes(const Bench& bench, int b, bool sp, bool grad) {
  at::Tensor x = bench.input(b, sp);
  const int64_t before = executor::tracked_current_bytes();
  at::Tensor y;
  {
    torch::autograd::GradMode::set_enabled(grad);
    y = bench.forward(x, sp);
    torch::autograd::GradMode::set_enabled(true);
  }
  const int64_t after = executor::tracked_current_bytes();
  return double(after - before) - double(y.nbytes()) + double(x.nbytes());
}

double per_sample(const Bench& bench, const std::vector<int>& mbs, bool sp, bool grad) {
  const int lo = mbs.front(), hi = mbs.back();
  const double a_lo = kept_bytes(bench, lo, sp, grad);
  if (hi == lo) return std::max(0.0, a_lo / lo);
  const double a_hi = kept_bytes(bench, hi, sp, grad);
  return std::max(0.0, (a_hi - a_lo) / (hi - lo));
}

// The largest `v` over the world.
double need_max(executor::Comms& comms, double v) {
  if (comms.world_size() < 2) return v;
  at::Tensor t = at::tensor(std::vector<double>{v}, at::kDouble);
  comms.world().allreduce_(t, c10d::ReduceOp::MAX);
  return t[0].item<double>();
}

std::vector<double> world_mean(executor::Comms& comms, const std::vector<double>& v) {
  if (comms.world_size() < 2 || v.empty()) return v;
  at::Tensor t = at::tensor(v, at::kDouble);
  comms.world().allreduce_(t);
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = t[int64_t(i)].item<double>() / comms.world_size();
  return out;
}

// Parameters of one unit, unsharded.
int64_t unit_param_count(const ModelConfig& cfg, UnitKind kind) {
  int64_t n = 0;
  for (const models::ParamSpec& s : models::unit_params(cfg, kind)) {
    int64_t k = 1;
    for (int64_t d : s.full_shape) k *= d;
    n += k;
  }
  return n;
}

// Parameter counts at which the optimizer step is timed: the largest unit's, then / 4 down to
// 1024, at most 4 of them.
std::vector<int64_t> optimizer_sizes(const ModelConfig& cfg) {
  int64_t largest = 0;
  for (UnitKind kind : {UnitKind::kLayer, UnitKind::kEmbedding, UnitKind::kHead})
    largest = std::max(largest, unit_param_count(cfg, kind));
  std::vector<int64_t> out;
  for (int64_t n = largest; n >= 1024 && out.size() < 4; n /= 4) out.push_back(n);
  if (out.empty()) out.push_back(std::max<int64_t>(largest, 1));
  return out;
}

// One unit's optimizer step over n parameters as the executor runs it
// (executor/sharded_unit.cpp): the gradient's square sum (grad_sq), clipping (g *= c, as
// while the norm is above max_grad_norm), the Adam update, zeroing the gradient.
struct OptimizerStep {
  explicit OptimizerStep(int64_t n)
      : p(at::randn({n})), g(at::randn({n})), m(at::zeros({n})), v(at::zeros({n})) {}
  void operator()() {
    sink += g.pow(2).sum().item<double>();
    g.mul_(0.5);
    models::adam_update(p, g, m, v, ++step, adam);
    g.zero_();
  }
  at::Tensor p, g, m, v;
  models::AdamOptions adam;
  int64_t step = 0;
  double sink = 0;
};

// The speed probe (see the header): one forward and backward of the transformer layer at tp 1,
// micro-batch 1, after every kEveryMs of the points' timed calls (outside their stopwatches);
// its times by the profile's clock, averaged per pass.
class ReferenceCall {
 public:
  static constexpr double kEveryMs = 40;
  static constexpr const char* kCall = "transformer tp 1 mb 1 forward+backward";
  ReferenceCall(const ModelConfig& cfg, bool cpu_clock)
      : bench_(cfg, UnitKind::kLayer, 1), x_(bench_.input(1, false)), cpu_clock_(cpu_clock) {
    bench_.backward(bench_.forward(x_, false));  // warm-up, untimed
  }
  // After a timed call of `call_ms` (wall): the probe, once kEveryMs of calls have passed.
  void after(double call_ms) {
    since_ += call_ms;
    if (since_ >= kEveryMs) run();
  }
  // This pass's mean time (ms), running one if none ran; starts the next pass.
  double take_pass_mean() {
    if (count_ == 0) run();
    const double m = sum_ / count_;
    sum_ = 0;
    count_ = 0;
    return m;
  }

 private:
  void run() {
    const Stopwatch w;
    bench_.backward(bench_.forward(x_, false));
    sum_ += cpu_clock_ ? w.cpu_ms() : w.wall_ms();
    ++count_;
    since_ = 0;
  }
  Bench bench_;
  at::Tensor x_;
  bool cpu_clock_;
  double since_ = 0, sum_ = 0;
  int count_ = 0;
};

// Mean wall and CPU ms of the optimizer step on n parameters over at least `repeats` calls
// filling a window of `window_ms` (the same call count on every rank).
struct TimedMean { double wall = 0, cpu = 0; };
TimedMean time_optimizer_step(executor::Comms& comms, int64_t n, int warmup, int repeats,
                              double window_ms, ReferenceCall& probe) {
  OptimizerStep once(n);
  for (int i = 0; i < warmup; ++i) once();
  barrier(comms);
  std::vector<double> t, c;
  auto timed = [&](int calls) {
    for (int i = 0; i < calls; ++i) {
      const Stopwatch w;
      once();
      t.push_back(w.wall_ms());
      c.push_back(w.cpu_ms());
      probe.after(t.back());
    }
  };
  timed(repeats);
  const double need = std::ceil(window_ms / std::max(mean(t), 1e-6));
  timed(int(std::min(need_max(comms, need), 100000.0)) - repeats);
  return {mean(t), mean(c)};
}

}  // namespace

StatusOr<ProfileClock> parse_clock(const std::string& s) {
  if (s == "auto") return ProfileClock::kAuto;
  if (s == "wall") return ProfileClock::kWall;
  if (s == "cpu") return ProfileClock::kCpu;
  return InvalidArgument("--clock '" + s + "': must be auto, wall or cpu");
}

ProfileClock resolve_clock(ProfileClock c, int host_ranks, int threads, int cores) {
  if (c != ProfileClock::kAuto) return c;
  return int64_t(host_ranks) * threads > cores ? ProfileClock::kCpu : ProfileClock::kWall;
}

std::vector<int> allowed_tps(const ModelConfig& cfg) {
  std::vector<int> out;
  for (int t : {1, 2, 4, 8})
    if (tp_fits(cfg, UnitKind::kLayer, t) || tp_fits(cfg, UnitKind::kEmbedding, t)) out.push_back(t);
  return out;
}

Status ModelProfilerOptions::validate(const ModelConfig& cfg) const {
  if (micro_batches.empty()) return InvalidArgument("--micro-batches: at least one size needed");
  for (size_t i = 0; i < micro_batches.size(); ++i) {
    if (micro_batches[i] < 1) return InvalidArgument("--micro-batches: sizes must be >= 1");
    if (i && micro_batches[i] <= micro_batches[i - 1])
      return InvalidArgument("--micro-batches: sizes must be increasing");
  }
  for (int t : tps)
    if (t < 1 || (t & (t - 1)) || !tp_fits(cfg, UnitKind::kLayer, t))
      return InvalidArgument("--tp " + std::to_string(t) +
                             ": must be a power of two dividing heads, kv_heads, ffn_hidden and "
                             "seq_len of model " + cfg.name);
  if (warmup < 0 || repeats < 1) return InvalidArgument("--warmup must be >= 0, --repeats >= 1");
  if (passes < 1 || passes > 100) return InvalidArgument("--passes must be in 1 .. 100");
  if (!(min_time_ms >= 0) || !std::isfinite(min_time_ms))
    return InvalidArgument("--min-time-ms must be a finite number >= 0");
  if (!(reference_probe_ms >= 0) || !std::isfinite(reference_probe_ms))
    return InvalidArgument("--speed-reference: the reference's probe time must be a finite "
                           "number >= 0 (0: none)");
  return Status::Ok();
}

StatusOr<PointOrder> parse_order(const std::string& s) {
  if (s == "fixed") return PointOrder::kFixed;
  if (s == "shuffled") return PointOrder::kShuffled;
  return InvalidArgument("--order must be fixed or shuffled, not '" + s + "'");
}

std::vector<size_t> pass_order(size_t n, int pass, PointOrder order) {
  std::vector<size_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = i;
  if (order == PointOrder::kFixed) return out;
  // Fisher-Yates with mt19937_64 (whose output the standard fixes) and an unbiased draw of our
  // own: std::shuffle and the distributions may differ between standard libraries.
  std::mt19937_64 gen(0x9e3779b97f4a7c15ull ^ uint64_t(pass));
  for (size_t i = n; i > 1; --i) {
    const uint64_t range = uint64_t(i);
    const uint64_t limit = ~uint64_t(0) - (~uint64_t(0) % range);  // reject the uneven tail
    uint64_t r = gen();
    while (r >= limit) r = gen();
    std::swap(out[i - 1], out[size_t(r % range)]);
  }
  return out;
}

StatusOr<PassKeep> parse_keep(const std::string& s) {
  if (s == "two-smallest") return PassKeep::kTwoSmallest;
  if (s == "lower-quartile") return PassKeep::kLowerQuartile;
  if (s == "median") return PassKeep::kMedian;
  if (s == "min") return PassKeep::kMin;
  return InvalidArgument("--keep must be two-smallest, lower-quartile, median or min, not '" + s + "'");
}

std::string PassTable::to_csv() const {
  std::string out = "point";
  for (size_t q = 0; q < passes.size(); ++q) out += ",pass " + std::to_string(q + 1);
  out += ",kept\n";
  char buf[32];
  for (size_t k = 0; k < points.size(); ++k) {
    out += points[k];
    for (const std::vector<double>& pass : passes) {
      std::snprintf(buf, sizeof buf, ",%.6g", pass[k]);
      out += buf;
    }
    std::snprintf(buf, sizeof buf, ",%.6g\n", kept[k]);
    out += buf;
  }
  return out;
}

ModelProfile profile_model(const ModelConfig& cfg, executor::Comms& comms,
                           const ModelProfilerOptions& o, PassTable* table) {
  executor::install_tracking_allocator(0);
  comms.ensure({comms.all_ranks()});  // the world group of the barriers and the final mean
  const std::vector<int> tps = o.tps.empty() ? allowed_tps(cfg) : o.tps;
  const std::vector<UnitKind> kinds = {UnitKind::kLayer, UnitKind::kEmbedding, UnitKind::kHead};
  const int passes = o.passes;
  int total = 0;
  for (UnitKind k : kinds)
    for (int t : tps)
      if (tp_fits(cfg, k, t)) total += passes * int(o.micro_batches.size()) + 1;
  const std::vector<int64_t> opt_sizes = optimizer_sizes(cfg);
  total += passes * int(opt_sizes.size());
  Progress bar(total, "profile-model", o.progress && comms.rank() == 0);

  ModelProfile p;
  p.model = cfg.name;
  p.model_fingerprint = fingerprint(cfg);
  p.source = "measured";
  const int threads = at::get_num_threads();
  // Ranks on this host: those with this kernel's id (emulated nodes share one kernel).
  std::vector<double> ids(comms.world_size(), 0.0);
  ids[comms.rank()] = host_id();
  if (comms.world_size() > 1) {
    at::Tensor t = at::tensor(ids, at::kDouble);
    comms.world().allreduce_(t);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = t[int64_t(i)].item<double>();
  }
  const int host_ranks = int(std::count(ids.begin(), ids.end(), ids[comms.rank()]));
  const bool cpu_clock =
      resolve_clock(o.clock, host_ranks, threads,
                    std::max(1, int(std::thread::hardware_concurrency()))) == ProfileClock::kCpu;
  p.seq_len = cfg.seq_len;
  // Times: `passes` passes over every (kind, tp, micro-batch) point; in each pass a point is the
  // ranks' mean of their means over at least ceil(repeats / passes) calls and a window of
  // min_time_ms / passes; the profile keeps the low end of the passes (`keep`; a slow spell of
  // the machine moves one pass of every point, not every call of a few).
  const int pass_repeats = (o.repeats + passes - 1) / passes;
  const double pass_window = o.min_time_ms / passes;
  // The timed points in their fixed order (kind by kind, tp by tp, micro-batch by micro-batch,
  // then the optimizer sizes); each has its slots in a pass's values: fwd, bwd (, fwd without
  // autograd for the transformer), or the optimizer step's one.
  struct Point {
    bool optimizer;
    UnitKind kind;
    int t, b;
    int64_t n;   // optimizer step's parameters
    size_t slot;
  };
  std::vector<Point> points;
  std::vector<std::string> names;  // per value
  for (UnitKind kind : kinds)
    for (int t : tps) {
      if (!tp_fits(cfg, kind, t)) continue;
      for (int b : o.micro_batches) {
        points.push_back({false, kind, t, b, 0, names.size()});
        const std::string at = std::string(type_name(kind)) + " tp " + std::to_string(t) +
                               " mb " + std::to_string(b);
        names.push_back(at + " forward");
        names.push_back(at + " backward");
        if (kind == UnitKind::kLayer) names.push_back(at + " forward_no_grad");
      }
    }
  for (int64_t n : opt_sizes) {
    points.push_back({true, UnitKind::kLayer, 0, 0, n, names.size()});
    names.push_back("optimizer step " + std::to_string(n) + " params");
  }
  names.push_back(std::string("speed probe: ") + ReferenceCall::kCall);
  std::vector<std::vector<double>> times(passes);  // per pass: every value, then the probe
  std::vector<double> ratios;                      // per pass: R (cpu clock)
  ReferenceCall probe(cfg, cpu_clock);
  std::unique_ptr<Bench> bench;  // the last point's (kept while the next one is of its kind and tp)
  for (int pass = 0; pass < passes; ++pass) {
    const std::string label = pass_label(pass, passes);
    std::vector<double> wall_pass(names.size()), cpu_pass(names.size());  // this rank's means
    double wall_total = 0, cpu_total = 0;  // spans of the pass's timed loops
    for (size_t k : pass_order(points.size(), pass, o.order)) {
      const Point& pt = points[k];
      if (pt.optimizer) {
        // The optimizer step, in the same passes (its values follow the points'): a slow spell
        // moves one pass of it too, not all of its calls.
        bar.step("optimizer step " + std::to_string(pt.n) + " params" + label);
        const TimedMean t =
            time_optimizer_step(comms, pt.n, o.warmup, pass_repeats, pass_window, probe);
        wall_pass[pt.slot] = t.wall;
        cpu_pass[pt.slot] = t.cpu;
        continue;
      }
      const UnitKind kind = pt.kind;
      if (!bench || bench->kind != kind || bench->tp != pt.t)
        bench = std::make_unique<Bench>(cfg, kind, pt.t);
      bar.step(std::string(type_name(kind)) + " tp=" + std::to_string(pt.t) +
               " mb=" + std::to_string(pt.b) + label);
      at::Tensor x = bench->input(pt.b, false);
      for (int i = 0; i < o.warmup; ++i) bench->backward(bench->forward(x, false));
      barrier(comms);
      // The transformer layer's forward without autograd too (a checkpointed layer's first
      // forward), in the same loop.
      const bool no_grad = kind == UnitKind::kLayer;
      std::vector<double> fw, bw, ng, fw_cpu, bw_cpu, ng_cpu;
      auto timed = [&](int calls) {
        const Stopwatch span;
        for (int i = 0; i < calls; ++i) {
          const Stopwatch fs;
          at::Tensor y = bench->forward(x, false);
          fw.push_back(fs.wall_ms());
          fw_cpu.push_back(fs.cpu_ms());
          const Stopwatch bs;
          bench->backward(y);
          bw.push_back(bs.wall_ms());
          bw_cpu.push_back(bs.cpu_ms());
          if (no_grad) {
            const at::NoGradGuard guard;
            const Stopwatch ns;
            at::Tensor z = bench->forward(x, false);
            ng.push_back(ns.wall_ms());
            ng_cpu.push_back(ns.cpu_ms());
          }
          probe.after(fw.back() + bw.back() + (no_grad ? ng.back() : 0.0));
        }
        wall_total += span.wall_ms();
        cpu_total += span.cpu_ms();
      };
      timed(pass_repeats);
      // Enough calls to fill the window, the same count on every rank (the slowest rank's
      // need), so that all of them compute during the whole window.
      const double per_call = mean(fw) + mean(bw) + mean(ng);
      const double need = std::ceil(pass_window / std::max(per_call, 1e-6));
      const int calls = int(std::min(need_max(comms, need), 100000.0));
      timed(calls - pass_repeats);
      wall_pass[pt.slot] = mean(fw);
      wall_pass[pt.slot + 1] = mean(bw);
      cpu_pass[pt.slot] = mean(fw_cpu);
      cpu_pass[pt.slot + 1] = mean(bw_cpu);
      if (no_grad) {
        wall_pass[pt.slot + 2] = mean(ng);
        cpu_pass[pt.slot + 2] = mean(ng_cpu);
      }
    }
    // The probe's mean last, timed by the profile's clock (CPU or wall) in both vectors.
    const double probe_ms = probe.take_pass_mean();
    wall_pass.back() = probe_ms;
    cpu_pass.back() = probe_ms;
    if (!cpu_clock) {
      times[pass] = world_mean(comms, wall_pass);
      continue;
    }
    cpu_pass.push_back(wall_total);
    cpu_pass.push_back(cpu_total);
    cpu_pass = world_mean(comms, cpu_pass);
    const double r = cpu_pass.back() > 0 ? cpu_pass[cpu_pass.size() - 2] / cpu_pass.back() : 1.0;
    cpu_pass.resize(cpu_pass.size() - 2);
    for (double& v : cpu_pass) v *= r;
    times[pass] = cpu_pass;
    ratios.push_back(r);
  }
  bench.reset();
  std::vector<double> time_values =
      o.keep == PassKeep::kTwoSmallest  ? two_smallest_of_passes(times)
      : o.keep == PassKeep::kLowerQuartile ? lower_quartile_of_passes(times)
      : o.keep == PassKeep::kMedian        ? median_of_passes(times)
                                           : min_of_passes(times);
  if (table) *table = PassTable{names, times, time_values};
  // The probe is the last value; the points go on the reference's speed.
  const double probe_kept = time_values.back();
  time_values.pop_back();
  const double scale =
      o.reference_probe_ms > 0 && probe_kept > 0 ? o.reference_probe_ms / probe_kept : 1.0;
  for (double& v : time_values) v *= scale;
  p.speed_probe = SpeedProbe{ReferenceCall::kCall, Milliseconds(probe_kept), scale};
  const double ratio = cpu_clock ? median(ratios) : 1.0;
  char clock_note[96];
  if (cpu_clock)
    std::snprintf(clock_note, sizeof clock_note, "; times: CPU time x %.3f (ranks time-share cores)",
                  ratio);
  else
    clock_note[0] = 0;
  const std::string kept = passes == 1 ? std::string()
                           : std::string("; ") +
                                 (o.keep == PassKeep::kTwoSmallest    ? "mean of the two smallest"
                                  : o.keep == PassKeep::kLowerQuartile ? "lower quartile"
                                  : o.keep == PassKeep::kMedian        ? "median"
                                                                       : "smallest") +
                                 " of " + std::to_string(passes) + " passes";
  p.device = "cpu-fp32 (" + std::to_string(threads) + " threads/rank" + clock_note + kept + ")";

  size_t at = 0;  // next time value
  for (UnitKind kind : kinds) {
    LayerTypeProfile lt;
    lt.name = type_name(kind);
    lt.param_count = unit_param_count(cfg, kind);
    std::vector<double> values;  // activation bytes
    struct Slot { int t; bool sp; size_t at; };  // where a point's value sits in `values`
    std::vector<Slot> acts;
    Slot ckpt{0, false, 0};
    bool has_ckpt = false;
    for (int t : tps) {
      if (!tp_fits(cfg, kind, t)) continue;
      for (int b : o.micro_batches) {
        ComputePoint c{b, t, Milliseconds(time_values[at]), Milliseconds(time_values[at + 1])};
        at += 2;
        if (kind == UnitKind::kLayer) c.forward_no_grad = Milliseconds(time_values[at++]);
        lt.compute.push_back(c);
      }
      Bench bench(cfg, kind, t);
      bar.step(std::string(lt.name) + " tp=" + std::to_string(t) + " activations");
      for (bool sp : {false, true}) {
        if (sp && t == 1) continue;
        acts.push_back({t, sp, values.size()});
        values.push_back(per_sample(bench, o.micro_batches, sp, true));
      }
      if (kind == UnitKind::kLayer && t == 1) {
        ckpt = {1, false, values.size()};
        has_ckpt = true;
        values.push_back(per_sample(bench, o.micro_batches, false, false));
      }
    }
    values = world_mean(comms, values);
    for (const Slot& s : acts) lt.activation.push_back({s.t, s.sp, Bytes(values[s.at])});
    if (has_ckpt) lt.checkpoint_bytes_per_sample = Bytes(values[ckpt.at]);
    p.layer_types.push_back(std::move(lt));
  }
  PARATUNE_CHECK(at + opt_sizes.size() == time_values.size());
  for (size_t i = 0; i < opt_sizes.size(); ++i)
    p.optimizer_step.push_back({opt_sizes[i], Milliseconds(time_values[at + i])});
  bar.done();
  return p;
}

}  // namespace paratune::profiler
