#include "models/param_spec.h"

namespace paratune::models {

std::vector<int64_t> ParamSpec::local_shape(int tp) const {
  std::vector<int64_t> s = full_shape;
  if (split_dim >= 0) s[split_dim] /= tp;
  return s;
}

int64_t ParamSpec::local_numel(int tp) const {
  int64_t n = 1;
  for (int64_t d : local_shape(tp)) n *= d;
  return n;
}

namespace {

void add_norm(std::vector<ParamSpec>& out, const ModelConfig& cfg, const std::string& prefix) {
  const int64_t h = cfg.hidden;
  out.push_back({prefix + ".w", {h}, -1, InitKind::kOnes, 0});
  if (cfg.norm == NormKind::kLayerNorm) out.push_back({prefix + ".b", {h}, -1, InitKind::kZeros, 0});
}

// Linear weight [out, in] plus optional bias [out]; column: split out (bias split too),
// row: split in (bias replicated, added after the reduction).
void add_linear(std::vector<ParamSpec>& out, const ModelConfig& cfg, const std::string& name,
                int64_t out_f, int64_t in_f, bool column) {
  out.push_back({name, {out_f, in_f}, column ? 0 : 1, InitKind::kNormal, 0.02});
  if (cfg.bias) out.push_back({name + "_b", {out_f}, column ? 0 : -1, InitKind::kZeros, 0});
}

}  // namespace

std::vector<ParamSpec> unit_params(const ModelConfig& cfg, UnitKind kind) {
  std::vector<ParamSpec> out;
  const int64_t h = cfg.hidden, hd = cfg.head_dim();
  switch (kind) {
    case UnitKind::kEmbedding:
      out.push_back({"tok", {cfg.vocab, h}, 0, InitKind::kNormal, 0.02});
      if (cfg.position == PositionKind::kLearned)
        out.push_back({"pos", {cfg.seq_len, h}, -1, InitKind::kNormal, 0.01});
      break;
    case UnitKind::kLayer:
      add_norm(out, cfg, "norm1");
      add_linear(out, cfg, "wq", cfg.heads * hd, h, true);
      add_linear(out, cfg, "wk", cfg.kv_heads * hd, h, true);
      add_linear(out, cfg, "wv", cfg.kv_heads * hd, h, true);
      add_linear(out, cfg, "wo", h, cfg.heads * hd, false);
      add_norm(out, cfg, "norm2");
      if (cfg.activation == ActivationKind::kGelu) {
        add_linear(out, cfg, "fc1", cfg.ffn_hidden, h, true);
        add_linear(out, cfg, "fc2", h, cfg.ffn_hidden, false);
      } else {
        add_linear(out, cfg, "gate", cfg.ffn_hidden, h, true);
        add_linear(out, cfg, "up", cfg.ffn_hidden, h, true);
        add_linear(out, cfg, "down", h, cfg.ffn_hidden, false);
      }
      break;
    case UnitKind::kHead:
      add_norm(out, cfg, "norm");
      if (!cfg.tied_embeddings) out.push_back({"lm", {cfg.vocab, h}, 0, InitKind::kNormal, 0.02});
      break;
  }
  return out;
}

std::string unit_name(UnitKind kind, int layer) {
  switch (kind) {
    case UnitKind::kEmbedding: return "embedding";
    case UnitKind::kLayer: return "layer" + std::to_string(layer);
    case UnitKind::kHead: return "head";
  }
  return "?";
}

}  // namespace paratune::models
