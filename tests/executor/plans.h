// Strategies and tiny models for the executor tests: Galvatron's 22 eight-device strategies,
// their variants, sequence-parallel and mixed per-layer plans.
#pragma once

#include <string>
#include <vector>

#include "core/model_config.h"
#include "core/strategy.h"

namespace paratune::executor::testing {

/// GPT-2 style: 8 layers, hidden 32, 8 heads, ffn 64, seq 16, vocab 64, tied embeddings.
ModelConfig tiny_gpt();
/// LLaMA style: 8 layers, hidden 64, 16 heads, 8 kv heads (GQA), ffn 128, untied, no bias.
ModelConfig tiny_llama();

struct NamedPlan {
  std::string name;
  Strategy strategy;
};

/// All layers (and the embedding/head) use `ls`; stages split the layers evenly.
Strategy uniform_plan(int devices, int pp, const LayerStrategy& ls, int layers, int global_batch,
                      int micro_batches);
/// Galvatron's 22 eight-device strategies ("1-2*-4f" style names).
std::vector<NamedPlan> galvatron_22(int layers);
/// The same plans with ZeRO-2 instead of DDP (those with dp > 1, no ZeRO-3).
std::vector<NamedPlan> zero2_variants(int layers);
/// The 22 with activation checkpointing on every layer.
std::vector<NamedPlan> checkpoint_variants(int layers);
/// Sequence parallel with tp 2 and 4 (8 devices).
std::vector<NamedPlan> sp_plans(int layers);
/// Mixed per-layer plans (uneven stages, consecutive and strided tp, mixed dp types, sp,
/// checkpointing) for `devices` = 4 or 8.
std::vector<NamedPlan> mixed_plans(int devices, int layers);

}  // namespace paratune::executor::testing
