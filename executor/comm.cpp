#include "executor/comm.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <string>

#include <dirent.h>
#include <sched.h>
#include <sys/resource.h>

#include <cstdlib>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>

#include "executor/trace.h"

namespace paratune::executor {

namespace {
// The thread ids of this process (/proc/self/task).
std::set<long> thread_ids() {
  std::set<long> out;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') out.insert(std::strtol(e->d_name, nullptr, 10));
    closedir(d);
  }
  return out;
}
}  // namespace

namespace {
constexpr int kKinds = 7;
struct WaitSlot {
  double ms = 0;
  int64_t calls = 0;
};
thread_local WaitSlot g_waits[kKinds][kWaitSizeSlots];

int size_slot(int group_size) {
  int slot = 0;
  while (slot + 1 < kWaitSizeSlots && (2 << slot) < group_size) ++slot;
  return group_size <= 1 ? 0 : slot;
}
}  // namespace

const char* to_string(WaitKind k) {
  switch (k) {
    case WaitKind::kNone: return "other";
    case WaitKind::kAllReduce: return "allreduce";
    case WaitKind::kAllGather: return "allgather";
    case WaitKind::kReduceScatter: return "reduce_scatter";
    case WaitKind::kRecvForward: return "pipeline_recv_forward";
    case WaitKind::kRecvBackward: return "pipeline_recv_backward";
    case WaitKind::kSend: return "pipeline_send";
  }
  return "?";
}

void wait_work(const c10::intrusive_ptr<c10d::Work>& w, const char* what, WaitKind kind,
               int group_size) {
  const auto t0 = std::chrono::steady_clock::now();
  static constexpr TraceKind kTraceOf[] = {
      TraceKind::kWaitOther,       TraceKind::kWaitAllReduce,    TraceKind::kWaitAllGather,
      TraceKind::kWaitReduceScatter, TraceKind::kWaitRecvForward, TraceKind::kWaitRecvBackward,
      TraceKind::kWaitSend};
  TraceScope traced(kTraceOf[int(kind)]);
  try {
    w->wait();
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("paratune: ") + what + " failed (a peer rank died, hung " +
                             "or timed out): " + e.what());
  }
  if (kind == WaitKind::kNone) return;
  WaitSlot& slot = g_waits[int(kind)][size_slot(group_size)];
  slot.ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ++slot.calls;
}

std::vector<WaitTotal> wait_totals() {
  std::vector<WaitTotal> out;
  for (int k = 1; k < kKinds; ++k)
    for (int s = 0; s < kWaitSizeSlots; ++s)
      if (g_waits[k][s].calls)
        out.push_back({WaitKind(k), k >= int(WaitKind::kRecvForward) ? 0 : 2 << s,
                       g_waits[k][s].ms, g_waits[k][s].calls});
  return out;
}

void reset_wait_totals() {
  for (auto& row : g_waits)
    for (WaitSlot& s : row) s = WaitSlot{};
}

Group::Group(std::vector<Rank> ranks, int index, c10::intrusive_ptr<c10d::ProcessGroupGloo> pg)
    : ranks_(std::move(ranks)), index_(index), pg_(std::move(pg)) {}

void Group::allreduce_(at::Tensor& t, c10d::ReduceOp op) {
  if (size() == 1) return;
  std::vector<at::Tensor> v{t};
  c10d::AllreduceOptions o;
  o.reduceOp = op;
  wait_work(pg_->allreduce(v, o), "allreduce", WaitKind::kAllReduce, size());
}

std::vector<at::Tensor> Group::allgather(const at::Tensor& t) {
  if (size() == 1) return {t};
  std::vector<at::Tensor> in{t.contiguous()};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int i = 0; i < size(); ++i) out[0].push_back(at::empty_like(in[0]));
  wait_work(pg_->allgather(out, in), "allgather", WaitKind::kAllGather, size());
  return out[0];
}

void Group::allgather_into(const at::Tensor& mine, at::Tensor& out) {
  const int64_t n = out.numel() / size();
  if (size() == 1) {
    if (!mine.is_same(out)) out.copy_(mine);
    return;
  }
  std::vector<at::Tensor> in{mine.contiguous()};
  std::vector<std::vector<at::Tensor>> outs(1);
  for (int i = 0; i < size(); ++i) outs[0].push_back(out.narrow(0, i * n, n));
  wait_work(pg_->allgather(outs, in), "allgather", WaitKind::kAllGather, size());
}

at::Tensor Group::reduce_scatter(const at::Tensor& t) {
  if (size() == 1) return t;
  at::Tensor in = t.contiguous();
  at::Tensor out = at::empty_like(in);
  std::vector<int64_t> splits;  // empty: equal splits
  wait_work(pg_->alltoall_base(out, in, splits, splits), "reduce_scatter (alltoall)",
            WaitKind::kReduceScatter, size());
  const int64_t chunk = in.size(0) / size();
  std::vector<int64_t> shape = in.sizes().vec();
  shape[0] = chunk;
  shape.insert(shape.begin(), size());
  return out.view(shape).sum(0);
}

Comms::Comms(c10::intrusive_ptr<c10d::Store> store, Rank rank, int world, CommOptions opts)
    : store_(std::move(store)), rank_(rank), world_(world), opts_(opts) {
  int nice = opts_.loop_thread_nice;
  bool idle = false;  // PARATUNE_GLOO_LOOP_NICE=idle: SCHED_IDLE, below any nice value
  if (const char* env = std::getenv("PARATUNE_GLOO_LOOP_NICE")) {
    idle = std::string(env) == "idle";
    if (!idle) nice = std::atoi(env);
  }
  const std::set<long> before = nice != 0 || idle ? thread_ids() : std::set<long>{};
  device_ = opts_.loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                           : c10d::ProcessGroupGloo::createDefaultDevice();
  // The threads that appeared while the device was created: its event loop.
  if (nice != 0 || idle)
    for (long tid : thread_ids()) {
      if (before.count(tid)) continue;
      if (idle) {
        sched_param p{};
        (void)sched_setscheduler(pid_t(tid), SCHED_IDLE, &p);
      } else {
        (void)setpriority(PRIO_PROCESS, id_t(tid), nice);
      }
    }
  if (world_ > 1) p2p_ = make_pg(all_ranks(), "p2p");
}

std::vector<Rank> Comms::all_ranks() const {
  std::vector<Rank> r(world_);
  for (int i = 0; i < world_; ++i) r[i] = i;
  return r;
}

c10::intrusive_ptr<c10d::ProcessGroupGloo> Comms::make_pg(const std::vector<Rank>& ranks,
                                                         const std::string& prefix) {
  std::string key = prefix + "/";
  for (size_t i = 0; i < ranks.size(); ++i) key += (i ? "," : "") + std::to_string(ranks[i]);
  auto opts = c10d::ProcessGroupGloo::Options::create(opts_.timeout);
  opts->devices.push_back(device_);
  opts->threads = 1;
  const int index = int(std::find(ranks.begin(), ranks.end(), rank_) - ranks.begin());
  auto ps = c10::make_intrusive<c10d::PrefixStore>(key, store_);
  try {
    return c10::make_intrusive<c10d::ProcessGroupGloo>(ps, index, int(ranks.size()), opts);
  } catch (const std::exception& e) {
    throw std::runtime_error("paratune: creating process group " + key + " failed: " + e.what());
  }
}

void Comms::ensure(std::vector<std::vector<Rank>> groups) {
  std::set<std::vector<Rank>> sorted;
  for (auto& g : groups) {
    std::sort(g.begin(), g.end());
    sorted.insert(g);
  }
  for (const auto& g : sorted) {
    if (groups_.count(g) || std::find(g.begin(), g.end(), rank_) == g.end()) continue;
    const int index = int(std::find(g.begin(), g.end(), rank_) - g.begin());
    c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
    if (g.size() > 1) {
      pg = make_pg(g, "pg");
      ++created_;
    }
    groups_[g] = std::make_unique<Group>(g, index, pg);
  }
}

Group& Comms::group(const std::vector<Rank>& ranks) {
  std::vector<Rank> g = ranks;
  std::sort(g.begin(), g.end());
  auto it = groups_.find(g);
  if (it != groups_.end()) return *it->second;
  if (g.size() == 1 && g[0] == rank_) {
    auto& slot = groups_[g];
    slot = std::make_unique<Group>(g, 0, c10::intrusive_ptr<c10d::ProcessGroupGloo>());
    return *slot;
  }
  TORCH_CHECK(false, "paratune: process group used before Comms::ensure() created it");
}

c10::intrusive_ptr<c10d::Work> Comms::isend(at::Tensor t, Rank dst, int tag) {
  std::vector<at::Tensor> v{t.contiguous()};
  return p2p_->send(v, dst, tag);
}

c10::intrusive_ptr<c10d::Work> Comms::irecv(at::Tensor t, Rank src, int tag) {
  std::vector<at::Tensor> v{t};
  return p2p_->recv(v, src, tag);
}

}  // namespace paratune::executor
