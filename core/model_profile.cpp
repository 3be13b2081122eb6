// Model profile files: reading, writing and checking.
//
// Format (every key required; key order as written by to_json):
//   { "format_version": 1, "model", "model_fingerprint": "m-..." | "",
//     "source": "measured"|"analytic"|"galvatron-import", "device", "seq_len" (>= 1),
//     "layer_types": [ { "name": "transformer"|"embedding"|"lm_head", "param_count",
//         "compute": [ { "micro_batch" (>= 1), "tp" (>= 1), "forward_ms", "backward_ms",
//                        optional "forward_no_grad_ms" (written only when measured) } ],
//         "activation": [ { "tp" (>= 1), "sp", "bytes_per_sample" } ],
//         "checkpoint_bytes_per_sample" } ],
//     optional "optimizer_step": [ { "params" (>= 1), "ms" } ] (written only when non-empty),
//     optional "speed_probe": { "call", "measured_ms" (> 0), "scale" (> 0) } (written when
//     measured) }
// validate(): layer type names unique, "transformer" present; tp a power of two; sp only with
// tp > 1; no two compute points with the same (micro_batch, tp), no two activation points with
// the same (tp, sp). Times and byte counts are finite and >= 0 (an analytic embedding on a
// device without a known memory bandwidth is timed as 0 ms); a layer type may have no compute
// points (the estimator then falls back to its analytic formula). Optimizer points have
// distinct parameter counts.
#include "core/model_profile.h"

#include <cmath>
#include <set>
#include <utility>

namespace paratune {

bool ComputePoint::operator==(const ComputePoint& o) const {
  return micro_batch == o.micro_batch && tp == o.tp && forward == o.forward &&
         backward == o.backward && forward_no_grad == o.forward_no_grad;
}
bool ActivationPoint::operator==(const ActivationPoint& o) const {
  return tp == o.tp && sp == o.sp && bytes_per_sample == o.bytes_per_sample;
}
bool LayerTypeProfile::operator==(const LayerTypeProfile& o) const {
  return name == o.name && param_count == o.param_count && compute == o.compute &&
         activation == o.activation && checkpoint_bytes_per_sample == o.checkpoint_bytes_per_sample;
}
bool SpeedProbe::operator==(const SpeedProbe& o) const {
  return call == o.call && measured == o.measured && scale == o.scale;
}
bool OptimizerPoint::operator==(const OptimizerPoint& o) const {
  return params == o.params && time == o.time;
}
bool ModelProfile::operator==(const ModelProfile& o) const {
  return model == o.model && model_fingerprint == o.model_fingerprint && source == o.source &&
         device == o.device && seq_len == o.seq_len && layer_types == o.layer_types &&
         optimizer_step == o.optimizer_step && speed_probe == o.speed_probe;
}

const LayerTypeProfile* ModelProfile::find(const std::string& name) const {
  for (const LayerTypeProfile& l : layer_types)
    if (l.name == name) return &l;
  return nullptr;
}

namespace {

Status field_error(const std::string& file, const std::string& field, const std::string& what) {
  return InvalidArgument(file + ": field \"" + field + "\": " + what);
}
bool is_pow2(int v) { return v >= 1 && (v & (v - 1)) == 0; }
bool non_negative(double v) { return v >= 0 && is_finite(v); }

}  // namespace

Status validate(const ModelProfile& p, const std::string& file) {
  if (p.seq_len < 1) {
    return field_error(file, "seq_len", "must be >= 1, got " + std::to_string(p.seq_len));
  }
  std::set<std::string> names;
  for (size_t i = 0; i < p.layer_types.size(); ++i) {
    const LayerTypeProfile& l = p.layer_types[i];
    const std::string f = "layer_types[" + std::to_string(i) + "]";
    if (l.name != "transformer" && l.name != "embedding" && l.name != "lm_head") {
      return field_error(file, f + ".name",
                         "must be one of \"transformer\", \"embedding\", \"lm_head\", got \"" +
                             l.name + "\"");
    }
    if (!names.insert(l.name).second) {
      return field_error(file, f + ".name", "duplicate layer type \"" + l.name + "\"");
    }
    if (l.param_count < 0) return field_error(file, f + ".param_count", "must be >= 0");
    if (!non_negative(l.checkpoint_bytes_per_sample.value)) {
      return field_error(file, f + ".checkpoint_bytes_per_sample", "must be finite and >= 0");
    }
    std::set<std::pair<int, int>> seen;
    for (size_t k = 0; k < l.compute.size(); ++k) {
      const ComputePoint& c = l.compute[k];
      const std::string g = f + ".compute[" + std::to_string(k) + "]";
      if (c.micro_batch < 1) return field_error(file, g + ".micro_batch", "must be >= 1");
      if (!is_pow2(c.tp)) return field_error(file, g + ".tp", "must be a power of two >= 1");
      if (!non_negative(c.forward.value)) {
        return field_error(file, g + ".forward_ms", "must be finite and >= 0");
      }
      if (!non_negative(c.backward.value)) {
        return field_error(file, g + ".backward_ms", "must be finite and >= 0");
      }
      if (c.forward_no_grad && !non_negative(c.forward_no_grad->value)) {
        return field_error(file, g + ".forward_no_grad_ms", "must be finite and >= 0");
      }
      if (!seen.insert({c.micro_batch, c.tp}).second) {
        return field_error(file, g,
                           "duplicate point for micro_batch " + std::to_string(c.micro_batch) +
                               ", tp " + std::to_string(c.tp));
      }
    }
    std::set<std::pair<int, bool>> seen_act;
    for (size_t k = 0; k < l.activation.size(); ++k) {
      const ActivationPoint& a = l.activation[k];
      const std::string g = f + ".activation[" + std::to_string(k) + "]";
      if (!is_pow2(a.tp)) return field_error(file, g + ".tp", "must be a power of two >= 1");
      if (a.sp && a.tp == 1) return field_error(file, g + ".sp", "sequence parallel needs tp > 1");
      if (!non_negative(a.bytes_per_sample.value)) {
        return field_error(file, g + ".bytes_per_sample", "must be finite and >= 0");
      }
      if (!seen_act.insert({a.tp, a.sp}).second) {
        return field_error(file, g,
                           "duplicate point for tp " + std::to_string(a.tp) +
                               (a.sp ? " with sp" : " without sp"));
      }
    }
  }
  if (!names.count("transformer")) {
    return field_error(file, "layer_types", "needs a \"transformer\" entry");
  }
  std::set<int64_t> seen_opt;
  for (size_t k = 0; k < p.optimizer_step.size(); ++k) {
    const OptimizerPoint& o = p.optimizer_step[k];
    const std::string g = "optimizer_step[" + std::to_string(k) + "]";
    if (o.params < 1) return field_error(file, g + ".params", "must be >= 1");
    if (!non_negative(o.time.value)) return field_error(file, g + ".ms", "must be finite and >= 0");
    if (!seen_opt.insert(o.params).second) {
      return field_error(file, g, "duplicate point for params " + std::to_string(o.params));
    }
  }
  if (p.speed_probe) {
    if (!(p.speed_probe->measured.value > 0) || !std::isfinite(p.speed_probe->measured.value))
      return field_error(file, "speed_probe.measured_ms", "must be finite and > 0");
    if (!(p.speed_probe->scale > 0) || !std::isfinite(p.speed_probe->scale))
      return field_error(file, "speed_probe.scale", "must be finite and > 0");
  }
  return Status::Ok();
}

StatusOr<ModelProfile> model_profile_from_json(const Json& j, const std::string& file) {
  ObjectReader r(j, file);
  ModelProfile p;
  r.format_version(ModelProfile::kFormatVersion);
  p.model = r.string("model");
  p.model_fingerprint = r.string("model_fingerprint");
  p.source = r.enumeration("source", {"measured", "analytic", "galvatron-import"});
  p.device = r.string("device");
  p.seq_len = static_cast<int>(r.integer("seq_len", 1, 1 << 30));
  for (ObjectReader& lr : r.objects("layer_types", 1)) {
    LayerTypeProfile l;
    l.name = lr.enumeration("name", {"transformer", "embedding", "lm_head"});
    l.param_count = lr.integer("param_count");
    for (ObjectReader& cr : lr.objects("compute")) {
      ComputePoint c;
      c.micro_batch = static_cast<int>(cr.integer("micro_batch", 1, 1 << 30));
      c.tp = static_cast<int>(cr.integer("tp", 1, 1 << 30));
      c.forward = Milliseconds(cr.number("forward_ms"));
      c.backward = Milliseconds(cr.number("backward_ms"));
      if (cr.has("forward_no_grad_ms"))
        c.forward_no_grad = Milliseconds(cr.number("forward_no_grad_ms"));
      (void)cr.finish();
      l.compute.push_back(c);
    }
    for (ObjectReader& ar : lr.objects("activation")) {
      ActivationPoint a;
      a.tp = static_cast<int>(ar.integer("tp", 1, 1 << 30));
      a.sp = ar.boolean("sp");
      a.bytes_per_sample = Bytes(ar.number("bytes_per_sample"));
      (void)ar.finish();
      l.activation.push_back(a);
    }
    l.checkpoint_bytes_per_sample = Bytes(lr.number("checkpoint_bytes_per_sample"));
    (void)lr.finish();
    p.layer_types.push_back(std::move(l));
  }
  if (r.has("optimizer_step")) {
    for (ObjectReader& orr : r.objects("optimizer_step", 1)) {
      OptimizerPoint o;
      o.params = orr.integer("params");
      o.time = Milliseconds(orr.number("ms"));
      (void)orr.finish();
      p.optimizer_step.push_back(o);
    }
  }
  if (r.has("speed_probe")) {
    ObjectReader sr = r.object("speed_probe");
    SpeedProbe s;
    s.call = sr.string("call");
    s.measured = Milliseconds(sr.number("measured_ms"));
    s.scale = sr.number("scale");
    (void)sr.finish();
    p.speed_probe = s;
  }
  PARATUNE_RETURN_IF_ERROR(r.finish());
  PARATUNE_RETURN_IF_ERROR(validate(p, file));
  return p;
}

StatusOr<ModelProfile> load_model_profile(const std::string& path) {
  PARATUNE_ASSIGN_OR_RETURN(Json j, read_json_file(path));
  return model_profile_from_json(j, path);
}

Json to_json(const ModelProfile& p) {
  Json j;
  j["format_version"] = ModelProfile::kFormatVersion;
  j["model"] = p.model;
  j["model_fingerprint"] = p.model_fingerprint;
  j["source"] = p.source;
  j["device"] = p.device;
  j["seq_len"] = p.seq_len;
  Json types = Json::array();
  for (const LayerTypeProfile& l : p.layer_types) {
    Json lj;
    lj["name"] = l.name;
    lj["param_count"] = l.param_count;
    Json comp = Json::array();
    for (const ComputePoint& c : l.compute) {
      Json cj;
      cj["micro_batch"] = c.micro_batch;
      cj["tp"] = c.tp;
      cj["forward_ms"] = c.forward.value;
      cj["backward_ms"] = c.backward.value;
      if (c.forward_no_grad) cj["forward_no_grad_ms"] = c.forward_no_grad->value;
      comp.push_back(std::move(cj));
    }
    lj["compute"] = std::move(comp);
    Json act = Json::array();
    for (const ActivationPoint& a : l.activation) {
      Json aj;
      aj["tp"] = a.tp;
      aj["sp"] = a.sp;
      aj["bytes_per_sample"] = a.bytes_per_sample.value;
      act.push_back(std::move(aj));
    }
    lj["activation"] = std::move(act);
    lj["checkpoint_bytes_per_sample"] = l.checkpoint_bytes_per_sample.value;
    types.push_back(std::move(lj));
  }
  j["layer_types"] = std::move(types);
  if (!p.optimizer_step.empty()) {
    Json opt = Json::array();
    for (const OptimizerPoint& o : p.optimizer_step) {
      Json oj;
      oj["params"] = o.params;
      oj["ms"] = o.time.value;
      opt.push_back(std::move(oj));
    }
    j["optimizer_step"] = std::move(opt);
  }
  if (p.speed_probe) {
    Json sj;
    sj["call"] = p.speed_probe->call;
    sj["measured_ms"] = p.speed_probe->measured.value;
    sj["scale"] = p.speed_probe->scale;
    j["speed_probe"] = std::move(sj);
  }
  return j;
}

}  // namespace paratune
