// The three layer types the model profile and the cost model know.
#pragma once

namespace paratune::estimator {

enum class LayerKind {
  kTransformer,  // one attention + MLP block
  kEmbedding,    // token (+ learned position) embedding, first stage
  kLmHead,       // final norm + LM head + loss, last stage
};

/// The LayerTypeProfile name: "transformer" | "embedding" | "lm_head".
inline const char* profile_name(LayerKind k) {
  switch (k) {
    case LayerKind::kTransformer:
      return "transformer";
    case LayerKind::kEmbedding:
      return "embedding";
    case LayerKind::kLmHead:
      return "lm_head";
  }
  return "?";
}

}  // namespace paratune::estimator
