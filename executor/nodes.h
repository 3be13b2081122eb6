// Autograd nodes of the runtime: a unit's computation as one node (parameters gathered before
// use, ZeRO-3 freed after, optional activation checkpointing) and the activation reshard
// between consecutive layers of different layouts.
//
// run_units(x, units, fn, checkpoint) evaluates y = fn(x, params) on a private inner graph and
// returns y attached to one outer node. Its backward (re)builds the inner graph when needed
// (checkpointing: recompute from the saved input; ZeRO-3: re-gather the parameters into the same
// storage the saved graph points to), differentiates it, hands the parameter gradients to the
// units (DP / ZeRO reduction) and returns the input gradient. The outer graph of a pipeline stage
// is thus a short chain of these nodes and reshards.
//
// reshard(x, stage, from, to): every rank holds block from[i] of the micro-batch; afterwards
// block to[i]. Forward all-gathers the blocks over the stage group and slices; backward does the
// same with the gradients (a block replicated over TP ranks carries identical gradients, so one
// holder's copy is taken). Collective over the stage group: every rank of the stage calls it.
//
//   at::Tensor y = run_units(x, {&unit}, [&](const at::Tensor& in, const auto& p) {
//     return models::layer_forward(cfg, p[0], in, hooks); }, /*checkpoint=*/false);
#pragma once

#include <functional>
#include <vector>

#include "executor/comm.h"
#include "executor/layout.h"
#include "executor/sharded_unit.h"

namespace paratune::executor {

using UnitFn = std::function<at::Tensor(const at::Tensor&, const std::vector<models::ParamMap>&)>;

at::Tensor run_units(const at::Tensor& x, std::vector<ShardedUnit*> units, UnitFn fn,
                     bool checkpoint);
at::Tensor reshard(const at::Tensor& x, Group& stage, const std::vector<Block>& from,
                   const std::vector<Block>& to);

}  // namespace paratune::executor
