// A timeline of one training run, per rank (`paratune train --trace FILE`): when each rank
// computed a micro-batch's forward or backward, waited for a message or a collective, synced
// gradients and stepped the optimizer, with the wall-clock span and the CPU time the calling
// thread and the whole process (Gloo's threads included) used in it.
//
// Off by default; when off, a TraceScope costs one branch. Not thread-safe: spans are recorded
// by the rank's one training thread (the executor calls wait_work() and computes only there). Timestamps are CLOCK_MONOTONIC, which
// all processes of a host share (network namespaces included), so the ranks of one host line up
// on one time axis.
//
//   executor::trace_enable(true);
//   { executor::TraceScope s(executor::TraceKind::kForward, micro); ... }
//   std::vector<TraceEvent> mine = executor::trace_events();
//
// gather_trace() collects every rank's events on rank 0 (a collective); write_chrome_trace()
// writes them in the Chrome trace-event format (chrome://tracing, ui.perfetto.dev: one row per
// rank); summarize_trace() prints where each rank's step time went.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace paratune::executor {

class Group;

enum class TraceKind : int {
  kStep,          // one Trainer::step, end to end
  kForward,       // a micro-batch's forward on this stage (includes the waits inside it)
  kBackward,      // a micro-batch's backward
  kGradSync,      // gradient allreduce after the backwards
  kOptimizer,     // loss / norm allreduce, clipping and Adam
  kWaitAllReduce, // waits inside wait_work(), by kind (nested in the spans above)
  kWaitAllGather,
  kWaitReduceScatter,
  kWaitRecvForward,
  kWaitRecvBackward,
  kWaitSend,
  kWaitOther,
  kCount
};
const char* trace_name(TraceKind k);
bool is_wait(TraceKind k);

struct TraceEvent {
  TraceKind kind = TraceKind::kStep;
  int rank = 0;
  int micro = -1;         // micro-batch, -1 where none
  int64_t step = 0;       // the run's step index (0-based)
  double t0_us = 0;       // CLOCK_MONOTONIC
  double dur_us = 0;      // wall span
  double thread_cpu_us = 0;   // CPU time of the calling thread in the span
  double process_cpu_us = 0;  // CPU time of the whole process (all threads) in the span
};

void trace_enable(bool on);
bool trace_enabled();
void trace_set_rank(int rank);
void trace_set_step(int64_t step);
/// This process's events so far, in the order their spans ended.
std::vector<TraceEvent> trace_events();
void trace_clear();

/// Records one span from construction to destruction when tracing is on.
class TraceScope {
 public:
  explicit TraceScope(TraceKind kind, int micro = -1);
  ~TraceScope();
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

 private:
  bool on_;
  TraceKind kind_;
  int micro_;
  double t0_, thread0_, process0_;
};

/// Collective over `world`: every rank's events, on the rank with index 0 (empty elsewhere).
std::vector<TraceEvent> gather_trace(Group& world);

/// Chrome trace-event JSON (one process row per host, one thread row per rank; args carry the
/// micro-batch, step and CPU times). `cpus[r]` names rank r's CPU when bound (or -1).
std::string chrome_trace_json(const std::vector<TraceEvent>& events, const std::vector<int>& hosts,
                              const std::vector<int>& cpus);

/// Per rank over steps [from_step, last]: mean step, compute (the step minus the waits nested
/// in it) wall and CPU time, waits by kind, and the CPU time of the process's other threads, per
/// step. A readable table. With `cpus` (rank -> its one CPU, -1 where not bound to one), also a
/// line per CPU: how busy it was, i.e. its ranks' process CPU time over the steps / the mean
/// wall time of their steps.
std::string summarize_trace(const std::vector<TraceEvent>& events, int64_t from_step,
                            const std::vector<int>& cpus = {});

}  // namespace paratune::executor
