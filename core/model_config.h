// Transformer model configuration (configs/models/*.json), also read from Hugging Face
// config.json files (GPT-2, Llama, Mistral, Qwen2 keys).
//
//   StatusOr<ModelConfig> m = load_model_config("configs/models/gpt-small.json");
//   int64_t p = m->layer_param_count();
#pragma once

#include <cstdint>
#include <string>

#include "core/json_reader.h"
#include "core/status.h"

namespace paratune {

enum class NormKind { kLayerNorm, kRmsNorm };
enum class ActivationKind { kGelu, kSwiGlu };
enum class PositionKind { kLearned, kRope };
enum class DType { kFp32, kBf16, kFp16 };

const char* to_string(NormKind k);        // "layernorm" | "rmsnorm"
const char* to_string(ActivationKind k);  // "gelu" | "swiglu"
const char* to_string(PositionKind k);    // "learned" | "rope"
const char* to_string(DType k);           // "fp32" | "bf16" | "fp16"
/// Bytes per element of the dtype (4 or 2).
int dtype_bytes(DType d);

/// A decoder-only (or encoder, for bert-large timing purposes) transformer stack.
struct ModelConfig {
  static constexpr int kFormatVersion = 1;
  std::string name;
  int num_layers = 0;   // transformer layers
  int hidden = 0;       // model width
  int heads = 0;        // attention heads
  int kv_heads = 0;     // key/value heads (== heads: MHA; < heads: grouped-query attention)
  int ffn_hidden = 0;   // MLP inner width
  int seq_len = 0;      // training sequence length, tokens
  int vocab = 0;        // vocabulary size
  NormKind norm = NormKind::kLayerNorm;
  ActivationKind activation = ActivationKind::kGelu;
  PositionKind position = PositionKind::kLearned;
  DType dtype = DType::kFp32;  // training dtype of activations / compute
  bool tied_embeddings = true; // LM head shares the embedding matrix
  bool bias = true;            // linear layers have biases (GPT-2 yes, Llama no)
  double norm_eps = 1e-5;

  int head_dim() const { return hidden / heads; }
  /// Parameters of one transformer layer (attention + MLP + norms).
  int64_t layer_param_count() const;
  /// Token embedding (+ learned positions) parameters.
  int64_t embedding_param_count() const;
  /// LM head + final norm parameters (only the norm when tied).
  int64_t head_param_count() const;
  int64_t total_param_count() const;
  /// The parameters of each unit that tensor parallelism replicates on every TP rank instead of
  /// splitting (models/param_spec.h: norms, row-parallel biases, learned positions). With
  /// sequence parallelism each TP rank sees only its part of the sequence, so their gradients
  /// are allreduced over the TP group after every micro-batch's backward.
  int64_t layer_tp_replicated_param_count() const;
  int64_t embedding_tp_replicated_param_count() const;
  int64_t head_tp_replicated_param_count() const;
  /// Forward FLOPs of one layer for one sample (seq_len tokens): matmuls + attention.
  double layer_forward_flops_per_sample() const;
  /// Forward FLOPs of the LM head (logits) for one sample.
  double head_forward_flops_per_sample() const;

  bool operator==(const ModelConfig& o) const;
  bool operator!=(const ModelConfig& o) const { return !(*this == o); }
};

/// Structural checks (positive sizes, heads % kv_heads, hidden % heads) naming `file`.
Status validate(const ModelConfig& m, const std::string& file);
/// Parses paratune's own format (requires "format_version").
StatusOr<ModelConfig> model_config_from_json(const Json& j, const std::string& file);
/// Parses a Hugging Face config.json (model_type gpt2 / llama / mistral / qwen2).
StatusOr<ModelConfig> model_config_from_hf_json(const Json& j, const std::string& file);
/// Loads either format: a file with "format_version" is paratune's, one with "model_type" HF's.
StatusOr<ModelConfig> load_model_config(const std::string& path);
Json to_json(const ModelConfig& m);
/// Stable short hash of the fields that change the math ("m-" + 16 hex digits).
std::string fingerprint(const ModelConfig& m);
/// FNV-1a 64-bit hash of `s` (the hash behind every fingerprint()).
uint64_t fnv1a64(const std::string& s);

}  // namespace paratune
