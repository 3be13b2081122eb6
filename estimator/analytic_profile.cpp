// Analytic model profile: the points of compute_model.cpp's analytic branch and
// memory_model.cpp's activation formula, packaged as a ModelProfile (source "analytic") so
// that it can be written, inspected and compared with a measured one.
#include "estimator/analytic_profile.h"

#include <vector>

#include "estimator/compute_model.h"
#include "estimator/layer_kind.h"
#include "estimator/memory_model.h"

namespace paratune::estimator {

namespace {

std::vector<int> tp_degrees(const ModelConfig& m, LayerKind kind) {
  std::vector<int> out;
  for (int t : {1, 2, 4, 8}) {
    const bool ok = kind == LayerKind::kTransformer
                        ? m.heads % t == 0 && (m.kv_heads > 0 ? m.kv_heads : m.heads) % t == 0 &&
                              m.ffn_hidden % t == 0
                        : m.vocab % t == 0;
    if (ok) out.push_back(t);
  }
  return out;
}

LayerTypeProfile layer_type(const ModelConfig& m, const ClusterProfile& c, LayerKind kind,
                            double efficiency) {
  LayerTypeProfile p;
  p.name = profile_name(kind);
  switch (kind) {
    case LayerKind::kTransformer:
      p.param_count = m.layer_param_count();
      break;
    case LayerKind::kEmbedding:
      p.param_count = m.embedding_param_count();
      break;
    case LayerKind::kLmHead:
      p.param_count = m.head_param_count();
      break;
  }
  // Without device.flops only the embedding (memory-bound) gets compute points.
  const bool timed = kind == LayerKind::kEmbedding || c.device.flops.value > 0;
  for (int t : tp_degrees(m, kind)) {
    for (int b : {1, 2, 4, 8}) {
      if (!timed) break;
      ComputeTime ct = analytic_compute(m, c, kind, b, t, efficiency);
      p.compute.push_back(ComputePoint{b, t, ct.forward, ct.backward});
    }
    for (bool sp : {false, true}) {
      if (sp && t == 1) continue;
      p.activation.push_back(
          ActivationPoint{t, sp, analytic_activation_per_sample(m, kind, t, sp)});
    }
  }
  if (kind == LayerKind::kTransformer) {
    p.checkpoint_bytes_per_sample = analytic_checkpoint_per_sample(m);
  }
  return p;
}

}  // namespace

ModelProfile analytic_profile(const ModelConfig& m, const ClusterProfile& c, double efficiency) {
  ModelProfile p;
  p.model = m.name;
  p.model_fingerprint = fingerprint(m);
  p.source = "analytic";
  p.device = c.device.name;
  p.seq_len = m.seq_len;
  for (LayerKind kind : {LayerKind::kTransformer, LayerKind::kEmbedding, LayerKind::kLmHead}) {
    p.layer_types.push_back(layer_type(m, c, kind, efficiency));
  }
  return p;
}

}  // namespace paratune::estimator
