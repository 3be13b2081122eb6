// The parameters of each unit of a transformer (embedding, decoder layer l, head), their full
// (unsharded) shapes and how Megatron tensor parallelism splits them.
//
// A "unit" is what a strategy assigns one LayerStrategy to: the embedding (token + learned
// positions), each decoder layer, and the head (final norm + LM head; the LM head weight is the
// embedding's when embeddings are tied). Column-parallel weights split dim 0 (output features),
// row-parallel weights split dim 1 (input features); norms and row-parallel biases are
// replicated on every TP rank.
//
//   for (const ParamSpec& p : unit_params(cfg, UnitKind::kLayer)) ... p.local_shape(tp)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/model_config.h"

namespace paratune::models {

enum class UnitKind { kEmbedding, kLayer, kHead };

enum class InitKind {
  kOnes,    // norm weights
  kZeros,   // biases
  kNormal,  // weights: N(0, std)
};

struct ParamSpec {
  std::string name;                // unique inside its unit, e.g. "wq"
  std::vector<int64_t> full_shape; // unsharded shape
  int split_dim = -1;              // TP split dimension; -1: replicated on every TP rank
  InitKind init = InitKind::kNormal;
  double std = 0.02;               // for kNormal

  bool tp_replicated() const { return split_dim < 0; }
  std::vector<int64_t> local_shape(int tp) const;
  int64_t local_numel(int tp) const;
};

/// Parameters of a unit in a fixed order (the order of the executor's flat buffers).
/// For kHead with tied embeddings the LM weight is not listed (it belongs to the embedding).
std::vector<ParamSpec> unit_params(const ModelConfig& cfg, UnitKind kind);
/// Unit name used for seeding and messages: "embedding", "layer<l>", "head".
std::string unit_name(UnitKind kind, int layer);

}  // namespace paratune::models
