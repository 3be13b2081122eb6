// One rank's share of training a model with a Strategy: the units of its pipeline stage, the
// 1F1B schedule, gradient synchronisation, global-norm clipping and Adam.
//
// Step semantics (identical to models::ReferenceTrainer on the whole batch):
//   loss = sum over the global batch's tokens of CE / (global_batch * seq_len).
// Micro-batch m covers samples [m*mb, (m+1)*mb), mb = global_batch / micro_batches; inside a
// layer with DP degree d, DP rank j takes samples [j*mb/d, (j+1)*mb/d) of it (executor/layout.h).
// Gradients are SUMmed (not averaged) over DP since every rank's loss is already scaled by the
// global token count.
//
// Schedule per step on stage s of P with M micro-batches (1F1B, Megatron's non-interleaved):
//   warmup min(P-s-1, M) forwards; then alternate one forward and one backward; drain the
//   backwards. Activations and their gradients go rank i of stage s <-> rank i of stage s+1 in
//   the layout of stage s's last layer; the receiving stage reshards to its first layer's layout.
// After the backwards: DP allreduce of ddp gradients (buckets: consecutive units sharing a DP
// group, up to bucket_bytes; the units' gradients live in the bucket's buffer, so it is
// allreduced in place with no copy), allreduce of tied embedding gradients between the first and last
// stage, one world allreduce of (loss, squared grad norm), clip, Adam.
//
//   Trainer t(cfg, strategy, comms, TrainerOptions{});
//   StepResult r = t.step(batch);  // batch [global_batch, seq_len + 1], same on every rank
#pragma once

#include <memory>
#include <vector>

#include "core/model_config.h"
#include "core/strategy.h"
#include "executor/comm.h"
#include "executor/layout.h"
#include "executor/sharded_unit.h"
#include "models/adam.h"

namespace paratune::executor {

struct TrainerOptions {
  uint64_t seed = 1;            // parameter init seed (default 1)
  models::AdamOptions adam;     // optimizer and clipping (defaults of AdamOptions)
  int64_t bucket_bytes = 25 << 20;  // ddp gradient allreduce bucket size (default 25 MiB)
};

struct StepResult {
  double loss = 0;       // mean token loss of the global batch (before the update)
  double grad_norm = 0;  // global gradient norm before clipping
};

/// Every process group `s` needs (TP, DP, stage, tied-embedding pairs, world): pass to
/// Comms::ensure() on every rank.
std::vector<std::vector<Rank>> groups_needed(const Strategy& s, const ModelConfig& cfg);
/// Executor-side checks beyond core validate(): world size matches the plan.
Status check_runnable(const Strategy& s, const ModelConfig& cfg, int world_size,
                      const std::string& file);

class Trainer {
 public:
  /// Collective over the world: creates missing groups via comms.ensure().
  Trainer(const ModelConfig& cfg, const Strategy& s, Comms& comms, TrainerOptions opts = {});
  StepResult step(const at::Tensor& batch);
  StageIdx stage() const { return stage_; }
  /// Persistent params + grads + Adam bytes of this rank.
  int64_t state_bytes() const;
  /// Units of this rank (embedding / layers / head / tied copy), for tests and checkpoints.
  const std::vector<std::unique_ptr<ShardedUnit>>& units() const { return units_; }
  const ModelConfig& config() const { return cfg_; }
  const Strategy& strategy() const { return s_; }
  const TrainerOptions& options() const { return opts_; }
  /// Optimizer steps done (Adam's t); set when resuming from a checkpoint.
  int64_t steps_done() const { return step_; }
  void set_steps_done(int64_t t) { step_ = t; }

 private:
  struct InFlight {
    at::Tensor input;   // received activation leaf (undefined on stage 0)
    at::Tensor output;  // stage output (loss on the last stage)
  };
  at::Tensor forward(int micro, const at::Tensor& batch, const at::Tensor& input);
  at::Tensor recv_forward(int micro);
  void send_forward(const at::Tensor& y, int micro);
  at::Tensor recv_backward(int micro);
  void send_backward(const at::Tensor& dx, int micro);
  at::Tensor backward(InFlight& f, const at::Tensor& dy);
  void sync_grads();

  ModelConfig cfg_;
  Strategy s_;
  Comms& comms_;
  TrainerOptions opts_;
  StageIdx stage_ = 0;
  int local_ = 0;  // index inside the stage
  Group* stage_group_ = nullptr;
  Group* tied_pair_ = nullptr;  // first/last stage pair for tied embeddings with pp > 1
  std::vector<std::unique_ptr<ShardedUnit>> units_;
  ShardedUnit* embedding_ = nullptr;  // stage 0
  std::vector<ShardedUnit*> layers_;  // this stage's layers
  ShardedUnit* head_ = nullptr;       // last stage
  ShardedUnit* lm_owner_ = nullptr;   // unit holding the tied LM weight on the last stage
  std::vector<std::vector<Block>> layer_blocks_;
  std::vector<Block> emb_blocks_, in_blocks_;
  struct Bucket {
    Group* dp = nullptr;
    at::Tensor flat;  // the units' gradients are views of it: allreduced in place
  };
  std::vector<Bucket> buckets_;  // ddp gradient buckets with dp > 1, in unit order
  std::vector<c10::intrusive_ptr<c10d::Work>> pending_sends_;
  int64_t step_ = 0;
  double loss_acc_ = 0;
};

}  // namespace paratune::executor
