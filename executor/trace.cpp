#include "executor/trace.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <time.h>

#include <ATen/ATen.h>

#include "core/json_reader.h"
#include "executor/comm.h"

namespace paratune::executor {

namespace {
bool g_on = false;
int g_rank = 0;
int64_t g_step = 0;
std::vector<TraceEvent> g_events;

double clock_us(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
}
constexpr int kFields = 8;
}  // namespace

const char* trace_name(TraceKind k) {
  switch (k) {
    case TraceKind::kStep: return "step";
    case TraceKind::kForward: return "forward";
    case TraceKind::kBackward: return "backward";
    case TraceKind::kGradSync: return "grad_sync";
    case TraceKind::kOptimizer: return "optimizer";
    case TraceKind::kWaitAllReduce: return "wait allreduce";
    case TraceKind::kWaitAllGather: return "wait allgather";
    case TraceKind::kWaitReduceScatter: return "wait reduce_scatter";
    case TraceKind::kWaitRecvForward: return "wait recv forward";
    case TraceKind::kWaitRecvBackward: return "wait recv backward";
    case TraceKind::kWaitSend: return "wait send";
    case TraceKind::kWaitOther: return "wait other";
    case TraceKind::kCount: break;
  }
  return "?";
}

bool is_wait(TraceKind k) { return k >= TraceKind::kWaitAllReduce && k < TraceKind::kCount; }

void trace_enable(bool on) { g_on = on; }
bool trace_enabled() { return g_on; }
void trace_set_rank(int rank) { g_rank = rank; }
void trace_set_step(int64_t step) { g_step = step; }
std::vector<TraceEvent> trace_events() { return g_events; }
void trace_clear() { g_events.clear(); }

TraceScope::TraceScope(TraceKind kind, int micro)
    : on_(g_on), kind_(kind), micro_(micro), t0_(0), thread0_(0), process0_(0) {
  if (!on_) return;
  t0_ = clock_us(CLOCK_MONOTONIC);
  thread0_ = clock_us(CLOCK_THREAD_CPUTIME_ID);
  process0_ = clock_us(CLOCK_PROCESS_CPUTIME_ID);
}

TraceScope::~TraceScope() {
  if (!on_) return;
  TraceEvent e;
  e.kind = kind_;
  e.rank = g_rank;
  e.micro = micro_;
  e.step = g_step;
  e.t0_us = t0_;
  e.dur_us = clock_us(CLOCK_MONOTONIC) - t0_;
  e.thread_cpu_us = clock_us(CLOCK_THREAD_CPUTIME_ID) - thread0_;
  e.process_cpu_us = clock_us(CLOCK_PROCESS_CPUTIME_ID) - process0_;
  g_events.push_back(e);
}

std::vector<TraceEvent> gather_trace(Group& world) {
  const bool was = g_on;
  g_on = false;  // the gather's own waits are not part of the run
  const std::vector<TraceEvent> mine = g_events;
  at::Tensor n = at::tensor({double(mine.size())}, at::kDouble);
  std::vector<at::Tensor> counts = world.allgather(n);
  int64_t most = 0;
  for (const at::Tensor& c : counts) most = std::max(most, int64_t(c.item<double>()));
  at::Tensor packed = at::zeros({std::max<int64_t>(most, 1) * kFields}, at::kDouble);
  double* p = packed.data_ptr<double>();
  for (size_t i = 0; i < mine.size(); ++i) {
    const TraceEvent& e = mine[i];
    double* q = p + i * kFields;
    q[0] = double(int(e.kind));
    q[1] = e.rank;
    q[2] = e.micro;
    q[3] = double(e.step);
    q[4] = e.t0_us;
    q[5] = e.dur_us;
    q[6] = e.thread_cpu_us;
    q[7] = e.process_cpu_us;
  }
  std::vector<at::Tensor> all = world.allgather(packed);
  g_on = was;
  std::vector<TraceEvent> out;
  if (world.index() != 0) return out;
  for (size_t r = 0; r < all.size(); ++r) {
    const int64_t count = int64_t(counts[r].item<double>());
    const double* a = all[r].data_ptr<double>();
    for (int64_t i = 0; i < count; ++i) {
      const double* q = a + i * kFields;
      TraceEvent e;
      e.kind = TraceKind(int(q[0]));
      e.rank = int(q[1]);
      e.micro = int(q[2]);
      e.step = int64_t(q[3]);
      e.t0_us = q[4];
      e.dur_us = q[5];
      e.thread_cpu_us = q[6];
      e.process_cpu_us = q[7];
      out.push_back(e);
    }
  }
  return out;
}

std::string chrome_trace_json(const std::vector<TraceEvent>& events, const std::vector<int>& hosts,
                              const std::vector<int>& cpus) {
  double origin = 0;
  bool first = true;
  for (const TraceEvent& e : events)
    if (first || e.t0_us < origin) origin = e.t0_us, first = false;
  Json list = Json::array();
  std::map<int, bool> named;
  for (const TraceEvent& e : events) {
    const int host = e.rank < int(hosts.size()) ? hosts[e.rank] : 0;
    if (!named[e.rank]) {
      named[e.rank] = true;
      std::string label = "rank " + std::to_string(e.rank);
      if (e.rank < int(cpus.size()) && cpus[e.rank] >= 0)
        label += " (cpu " + std::to_string(cpus[e.rank]) + ")";
      list.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", host}, {"tid", e.rank},
                      {"args", {{"name", label}}}});
      list.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", host}, {"tid", e.rank},
                      {"args", {{"name", "host " + std::to_string(host)}}}});
    }
    Json args = {{"step", e.step},
                 {"thread_cpu_ms", e.thread_cpu_us / 1e3},
                 {"process_cpu_ms", e.process_cpu_us / 1e3}};
    if (e.micro >= 0) args["micro_batch"] = e.micro;
    list.push_back({{"name", trace_name(e.kind)},
                    {"cat", is_wait(e.kind) ? "wait" : "compute"},
                    {"ph", "X"},
                    {"pid", host},
                    {"tid", e.rank},
                    {"ts", e.t0_us - origin},
                    {"dur", e.dur_us},
                    {"args", args}});
  }
  Json doc = {{"traceEvents", list}, {"displayTimeUnit", "ms"}};
  return doc.dump(1);
}

std::string summarize_trace(const std::vector<TraceEvent>& events, int64_t from_step,
                            const std::vector<int>& cpus) {
  struct Row {
    int steps = 0;
    double step = 0, step_thread = 0, step_process = 0;
    double wait[int(TraceKind::kCount)] = {};
    double wait_thread = 0;
  };
  std::map<int, Row> rows;
  for (const TraceEvent& e : events) {
    if (e.step < from_step) continue;
    Row& r = rows[e.rank];
    if (e.kind == TraceKind::kStep) {
      ++r.steps;
      r.step += e.dur_us / 1e3;
      r.step_thread += e.thread_cpu_us / 1e3;
      r.step_process += e.process_cpu_us / 1e3;
    } else if (is_wait(e.kind)) {
      r.wait[int(e.kind)] += e.dur_us / 1e3;
      r.wait_thread += e.thread_cpu_us / 1e3;
    }
  }
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line,
                "trace summary, ms per step over steps %lld..: compute = step minus the waits in it;"
                " cpu = the main thread's CPU time; other threads = the rest of the process's\n",
                static_cast<long long>(from_step + 1));
  out += line;
  std::snprintf(line, sizeof line, "%5s %8s %9s %9s %6s %9s %9s %7s %9s %9s %9s %7s %9s\n", "rank",
                "step", "compute", "cpu", "wall/cpu", "recv fwd", "recv bwd", "send", "allreduce",
                "allgather", "red_scat", "other", "oth.thr");
  out += line;
  for (const auto& [rank, r] : rows) {
    if (r.steps == 0) continue;
    const double n = r.steps;
    double waits = 0;
    for (double w : r.wait) waits += w;
    const double compute = (r.step - waits) / n;
    const double cpu = (r.step_thread - r.wait_thread) / n;
    auto w = [&](TraceKind k) { return r.wait[int(k)] / n; };
    std::snprintf(line, sizeof line,
                  "%5d %8.2f %9.2f %9.2f %6.2f %9.2f %9.2f %7.2f %9.2f %9.2f %9.2f %7.2f %9.2f\n",
                  rank, r.step / n, compute, cpu, cpu > 0 ? compute / cpu : 0.0,
                  w(TraceKind::kWaitRecvForward), w(TraceKind::kWaitRecvBackward),
                  w(TraceKind::kWaitSend), w(TraceKind::kWaitAllReduce),
                  w(TraceKind::kWaitAllGather), w(TraceKind::kWaitReduceScatter),
                  w(TraceKind::kWaitOther), (r.step_process - r.step_thread) / n);
    out += line;
  }
  // Per CPU: the CPU time of its ranks' processes over the mean step wall of those ranks.
  std::map<int, std::vector<int>> ranks_of;
  for (const auto& [rank, r] : rows)
    if (r.steps > 0 && rank < int(cpus.size()) && cpus[rank] >= 0) ranks_of[cpus[rank]].push_back(rank);
  for (const auto& [cpu, ranks] : ranks_of) {
    double busy = 0, wall = 0;
    std::string names;
    for (int rank : ranks) {
      const Row& r = rows.at(rank);
      busy += r.step_process / r.steps;
      wall += r.step / r.steps / double(ranks.size());
      names += (names.empty() ? "" : ", ") + std::to_string(rank);
    }
    std::snprintf(line, sizeof line, "cpu %d (ranks %s): busy %.0f%% of the step (%.2f of %.2f ms)\n",
                  cpu, names.c_str(), wall > 0 ? 100 * busy / wall : 0.0, busy, wall);
    out += line;
  }
  return out;
}

}  // namespace paratune::executor
