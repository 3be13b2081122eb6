// Deterministic parameter init, independent of the parallel layout.
//
// Every full tensor is drawn from its own CPU generator seeded with
// hash(seed, unit name, param name); a TP shard is a slice of that full tensor. So any layout
// (tp, dp, pp) starts from exactly the same full weights as the single-process reference.
//
//   at::Tensor w = init_param_shard(spec, 1234, "layer3", /*tp=*/2, /*tp_rank=*/1);
#pragma once

#include <cstdint>
#include <string>

#include <ATen/ATen.h>

#include "models/param_spec.h"

namespace paratune::models {

/// splitmix64-mixed hash of (seed, unit, name).
uint64_t param_seed(uint64_t seed, const std::string& unit, const std::string& name);
/// The full fp32 tensor of `spec`.
at::Tensor init_full_param(const ParamSpec& spec, uint64_t seed, const std::string& unit);
/// Shard `tp_rank` of `tp` of a full tensor along spec.split_dim (the full tensor if replicated).
at::Tensor shard_of(const ParamSpec& spec, const at::Tensor& full, int tp, int tp_rank);
/// init_full_param + shard_of, contiguous.
at::Tensor init_param_shard(const ParamSpec& spec, uint64_t seed, const std::string& unit, int tp,
                            int tp_rank);

}  // namespace paratune::models
