// Per-layer candidate strategies of one pipeline stage: Galvatron's decision tree.
//
// A stage owns g = N / pp devices. A layer's strategy is a path in a decision tree whose levels
// split those g devices, outermost level (largest device stride) first, innermost level (the one
// on consecutive devices) last. Every level is one paradigm with a degree >= 2: TP (power of
// two), or a data-parallel kind (DDP, ZeRO-2, ZeRO-3). The degrees multiply to g. Leaf flags:
// Megatron sequence parallel (only with TP) and activation checkpointing.
//
// The tree rule (Galvatron, VLDB'23, section 3.2) that reproduces its published counts:
//   * every paradigm appears on at most one level (so the tree is at most as high as the number
//     of paradigms: TP, DP, SDP => at most 3 levels below PP);
//   * the order of the levels is part of the strategy (it decides who gets consecutive devices);
//   * "DP and SDP are not mixed in one tree" (the pruning) = at most one data-parallel kind per
//     path (`mix_dp_and_sdp = false`).
// For 8 devices, DDP + ZeRO-3, no checkpointing (galvatron(false, pruned)):
//   mixed:  g=8: 3 one-level + 6 ordered kind pairs x {2x4, 4x2} + 3! three-level = 21;
//           g=4: 3 + 6 = 9; g=2: 3; g=1: 1                         => 21/9/3/1 = 34
//   pruned: g=8: 3 + 4 pairs (TP+DDP, TP+ZeRO-3, both orders) x 2 = 11; g=4: 3 + 4 = 7;
//           g=2: 3; g=1: 1                                          => 11/7/3/1 = 22
// and checkpointing doubles each (68 / 44).
//
// A LayerStrategy carries one dp_type, so a mixed path (say DDP2 over ZeRO-3x4, i.e. hybrid
// sharding) has no LayerStrategy and no executor support: enumerate_tree_paths() lists it (to
// reproduce Galvatron's unpruned space), enumerate_layer_strategies() leaves it out.
//
//   DecisionTreeOptions o;                       // paratune's default space
//   std::vector<LayerStrategy> c = filter_for_model(enumerate_layer_strategies(8, o), model);
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/model_config.h"
#include "core/status.h"
#include "core/strategy.h"

namespace paratune::search {

/// Which strategies the decision tree may produce. Default: paratune's full space = Galvatron's
/// pruned space plus ZeRO-2, sequence parallel and checkpointing.
struct DecisionTreeOptions {
  int max_tp = 0;                // cap on the TP degree; 0 = no cap (up to the stage size)
  bool allow_ddp = true;         // plain data parallel (gradient allreduce)
  bool allow_zero2 = true;       // sharded DP: grads + optimizer states sharded
  bool allow_zero3 = true;       // sharded DP: params too (Galvatron's SDP / "fsdp")
  bool mix_dp_and_sdp = false;   // allow two DP kinds on different levels of one tree
                                 // (Galvatron's unpruned space; such paths have no
                                 // LayerStrategy, see above); false = Galvatron's pruning
  bool allow_strided_tp = true;  // TP above a DP level (tp_consecutive = false); false = TP is
                                 // always the innermost level
  bool allow_sp = true;          // Megatron sequence parallel variants of every t > 1 path
  bool allow_checkpoint = true;  // checkpointed variant of every path

  /// Errors for a negative max_tp or no data-parallel kind allowed.
  Status validate() const;

  /// Galvatron's space exactly: DDP + ZeRO-3, no ZeRO-2, no sequence parallel, strided TP
  /// allowed; `checkpoint` = checkpointing searched, `pruned` = DP and SDP not mixed.
  static DecisionTreeOptions galvatron(bool checkpoint, bool pruned);
};

/// One level of a decision tree: a paradigm and its degree (>= 2).
struct TreeLevel {
  enum class Kind { kTp, kDdp, kZero2, kZero3 };
  Kind kind = Kind::kTp;
  int degree = 2;
  bool operator==(const TreeLevel& o) const { return kind == o.kind && degree == o.degree; }
};

/// A root-to-leaf path: the levels, outermost (largest device stride) first, the last one on
/// consecutive devices; empty for a one-device stage.
struct TreePath {
  std::vector<TreeLevel> levels;
  bool sp = false;          // Megatron sequence parallel (only with a TP level)
  bool checkpoint = false;  // activation checkpointing

  int tp() const;  // product of the TP level degrees (1 if none)
  int dp() const;  // product of the data-parallel level degrees (1 if none)
  /// More than one data-parallel kind (not representable as a LayerStrategy).
  bool mixes_dp_kinds() const;
  bool operator==(const TreePath& o) const {
    return levels == o.levels && sp == o.sp && checkpoint == o.checkpoint;
  }
};

/// "zero3x2/tp4-sp-ckpt" (levels outermost first; "-" for an empty path).
std::string to_string(const TreePath& p);

/// Every path for a stage of `devices_per_stage` (>= 1) devices. TP degrees are powers of two;
/// data-parallel degrees are the divisors left (powers of two when the stage size is one).
/// Order: TP degree ascending; then fewer levels first; then the levels outermost first by
/// (kind: tp, ddp, zero2, zero3; degree ascending); then sp false before true; then checkpoint
/// false before true. `o` must validate.
std::vector<TreePath> enumerate_tree_paths(int devices_per_stage, const DecisionTreeOptions& o);

/// The LayerStrategy of a path, or nullopt when it mixes data-parallel kinds. tp_consecutive is
/// false exactly when a TP level lies above a data-parallel level; with no DP level dp_type is
/// kDdp (canonical; nothing is replicated).
std::optional<LayerStrategy> to_layer_strategy(const TreePath& p);

/// The per-layer candidates of one stage: the representable paths as LayerStrategies, each
/// exactly once. Order: tp ascending; then tp_consecutive true before false; then dp_type ddp,
/// zero2, zero3; then sp false before true; then checkpoint false before true. `o` must validate.
std::vector<LayerStrategy> enumerate_layer_strategies(int devices_per_stage,
                                                      const DecisionTreeOptions& o);

/// Whether TP degree `tp` splits the model's layers evenly: heads, kv_heads and ffn_hidden
/// divisible by tp (the vocabulary is not required: it concerns the embedding only).
bool tp_fits_model(int tp, const ModelConfig& model);

/// The candidates whose TP degree fits the model (order kept).
std::vector<LayerStrategy> filter_for_model(std::vector<LayerStrategy> candidates,
                                            const ModelConfig& model);

/// Candidates per pipeline degree pp (powers of two dividing num_devices, pp <= max_pp; max_pp
/// = 0: no cap), keyed by pp; every such pp has an entry, possibly empty.
std::map<int, std::vector<LayerStrategy>> enumerate_by_pp(int num_devices, int max_pp,
                                                          const DecisionTreeOptions& o);
/// Same, filtered for `model` (and pp <= the model's layer count).
std::map<int, std::vector<LayerStrategy>> enumerate_by_pp(int num_devices, int max_pp,
                                                          const DecisionTreeOptions& o,
                                                          const ModelConfig& model);

}  // namespace paratune::search
