// Process groups over c10d Gloo: one Group per set of global ranks, created once and shared by
// every layer that uses the same members (deduplicated).
//
// Contract (as in c10d): the members of a group must issue its collectives in the same order.
// Groups are created collectively by their members; Comms::ensure() creates every missing group
// of a list in one global (sorted) order, so creation never deadlocks, and every rank must pass
// the same list. A group of size 1 has no process group: its collectives are no-ops.
// Errors of a peer (death, timeout) surface as c10::Error exceptions from the collective; the
// caller (the `train` command) converts them into an exit code.
//
//   Comms comms(store, rank, world, CommOptions{});
//   comms.ensure({{0, 1}, {2, 3}});
//   Group& g = comms.group({0, 1});  g.allreduce_(t);
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "core/units.h"

namespace paratune::executor {

struct CommOptions {
  std::chrono::milliseconds timeout{120000};  // per collective and rendezvous (default 120 s)
  bool loopback = true;  // bind Gloo to 127.0.0.1 (single node); false: the host's address
  // Nice value of Gloo's event-loop thread (0: leave it; env PARATUNE_GLOO_LOOP_NICE overrides;
  // PARATUNE_GLOO_LOOP_NICE=idle puts it in SCHED_IDLE, below every nice value).
  // That thread spins on epoll_wait while a data-ready socket's pair is locked by a sending
  // thread (gloo/transport/tcp: Pair::handleEvents only try-locks). When ranks share cores it
  // takes a core from the rank that holds the lock, and every small collective costs about one
  // scheduler slice (~4 ms here). At nice 19 the spin yields to any other thread; an idle core
  // still runs it at full speed.
  int loop_thread_nice = 19;
};

class Group {
 public:
  Group(std::vector<Rank> ranks, int index, c10::intrusive_ptr<c10d::ProcessGroupGloo> pg);
  int size() const { return static_cast<int>(ranks_.size()); }
  /// This rank's position inside the group.
  int index() const { return index_; }
  const std::vector<Rank>& ranks() const { return ranks_; }

  /// In-place allreduce (SUM by default).
  void allreduce_(at::Tensor& t, c10d::ReduceOp op = c10d::ReduceOp::SUM);
  /// All ranks' (same-shaped) tensors, in group order.
  std::vector<at::Tensor> allgather(const at::Tensor& t);
  /// Allgather into the size() equal chunks of `out` (a contiguous 1-D tensor); `mine` is this
  /// rank's chunk content.
  void allgather_into(const at::Tensor& mine, at::Tensor& out);
  /// Reduce-scatter (SUM) of a contiguous tensor whose dim-0 size is divisible by size():
  /// returns chunk index() of the sum. Gloo has no reduce_scatter: built on alltoall (every rank
  /// receives its chunk from each peer, then sums locally in group order).
  at::Tensor reduce_scatter(const at::Tensor& t);

 private:
  std::vector<Rank> ranks_;
  int index_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
};

class Comms {
 public:
  Comms(c10::intrusive_ptr<c10d::Store> store, Rank rank, int world, CommOptions opts = {});
  Rank rank() const { return rank_; }
  int world_size() const { return world_; }
  /// Creates, in sorted order, every group of `groups` that contains this rank and does not
  /// exist yet. Collective: every rank passes the same list.
  void ensure(std::vector<std::vector<Rank>> groups);
  /// A group created by ensure() (or of size 1).
  Group& group(const std::vector<Rank>& ranks);
  Group& world() { return group(all_ranks()); }
  std::vector<Rank> all_ranks() const;
  /// Point-to-point on a dedicated world process group.
  c10::intrusive_ptr<c10d::Work> isend(at::Tensor t, Rank dst, int tag);
  c10::intrusive_ptr<c10d::Work> irecv(at::Tensor t, Rank src, int tag);
  int groups_created() const { return created_; }

 private:
  c10::intrusive_ptr<c10d::ProcessGroupGloo> make_pg(const std::vector<Rank>& ranks,
                                                    const std::string& prefix);
  c10::intrusive_ptr<c10d::Store> store_;
  Rank rank_;
  int world_;
  CommOptions opts_;
  std::shared_ptr<::gloo::transport::Device> device_;
  std::map<std::vector<Rank>, std::unique_ptr<Group>> groups_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> p2p_;
  int created_ = 0;
};

/// Waits for a work item; throws with `what` in the message on failure. With `kind`, the time
/// spent waiting is added to that kind's total (wait_totals()).
enum class WaitKind { kNone, kAllReduce, kAllGather, kReduceScatter, kRecvForward, kRecvBackward,
                      kSend };
void wait_work(const c10::intrusive_ptr<c10d::Work>& w, const char* what,
               WaitKind kind = WaitKind::kNone, int group_size = 0);

/// Time this process spent blocked in communication since the last reset, per kind and group
/// size: collectives by log2(group size) (0 for p2p). It includes waiting for the slowest peer
/// to arrive, so step time - sum is the time this rank computed (or waited in the scheduler).
/// `paratune train --metrics` reports it per rank ("comm_wait_ms"). Calling thread only: the
/// executor waits on its main thread.
struct WaitTotal {
  WaitKind kind;
  int group_size;  // 0 for p2p
  double ms;
  int64_t calls;
};
constexpr int kWaitSizeSlots = 8;  // group sizes 2^1 .. 2^7 (larger ones land in the last)
std::vector<WaitTotal> wait_totals();  // only kinds with calls, in a fixed order
void reset_wait_totals();
const char* to_string(WaitKind k);

}  // namespace paratune::executor
