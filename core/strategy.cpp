// strategy.json: reading, writing and checking a plan.
//
// Format (every key required unless marked optional; key order as written by to_json):
//   { "format_version": 1, "num_devices": N, "pp": P, "pp_division": [layers per stage],
//     "micro_batches": M, "global_batch": B,
//     "embedding": LAYER, "layers": [LAYER, ...],
//     "model_fingerprint": "m-..." | "", "cluster_fingerprint": "c-..." | "",
//     "predicted": { "iteration_ms", "samples_per_s", "stage_peak_memory_bytes": [..],
//                    "profile_source": "measured" | "analytic" | "galvatron-import" } (optional) }
//   LAYER = { "tp", "tp_consecutive", "sp", "dp", "dp_type": "ddp"|"zero2"|"zero3", "checkpoint" }
//
// Rules (validate_structure, model-independent):
//   num_devices >= 1; pp a power of two dividing num_devices; pp <= layers (else "fewer layers
//   than pipeline stages"); pp_division has pp entries >= 1 summing to the layer count;
//   global_batch % micro_batches == 0; for the embedding and every layer: tp, dp powers of two,
//   tp * dp == num_devices / pp, (global_batch / micro_batches) % dp == 0 (integer local
//   micro-batch), sp only with tp > 1; the embedding's checkpoint is false (nothing to recompute:
//   the embedding/LM head are not checkpointed). The embedding may use sp (its output is
//   reduce-scattered along the sequence instead of all-reduced, as in Megatron).
// Rules added by validate(s, model): layers.size() == num_layers; per layer tp divides heads,
//   kv_heads, ffn_hidden and hidden, and seq_len when sp; vocab and hidden divisible by the
//   embedding's tp (seq_len too with sp); a non-empty model_fingerprint must match the model.
//
// to_string(LayerStrategy) grammar:
//   label  = "tp" T [star] "-dp" D [star] ["-zero2" | "-zero3"] ["-sp"] ["-ckpt"]
//   The star follows the side that takes consecutive ranks (tp when tp_consecutive, dp
//   otherwise) and appears only when tp > 1 and dp > 1 (otherwise both readings are the same
//   groups). "ddp", sp = false and checkpoint = false are omitted. Examples: "tp1-dp8",
//   "tp2*-dp4", "tp2-dp4*-zero3", "tp8-dp1-sp-ckpt".
#include "core/strategy.h"

#include <numeric>
#include <tuple>

namespace paratune {

const char* to_string(DpType t) {
  switch (t) {
    case DpType::kDdp: return "ddp";
    case DpType::kZero2: return "zero2";
    case DpType::kZero3: return "zero3";
  }
  return "?";
}

bool LayerStrategy::operator<(const LayerStrategy& o) const {
  return std::tie(tp, tp_consecutive, sp, dp, dp_type, checkpoint) <
         std::tie(o.tp, o.tp_consecutive, o.sp, o.dp, o.dp_type, o.checkpoint);
}

std::string to_string(const LayerStrategy& s) {
  const bool both = s.tp > 1 && s.dp > 1;
  std::string out = "tp" + std::to_string(s.tp);
  if (both && s.tp_consecutive) out += "*";
  out += "-dp" + std::to_string(s.dp);
  if (both && !s.tp_consecutive) out += "*";
  if (s.dp_type != DpType::kDdp) out += std::string("-") + to_string(s.dp_type);
  if (s.sp) out += "-sp";
  if (s.checkpoint) out += "-ckpt";
  return out;
}

Json to_json(const LayerStrategy& s) {
  Json j;
  j["tp"] = s.tp;
  j["tp_consecutive"] = s.tp_consecutive;
  j["sp"] = s.sp;
  j["dp"] = s.dp;
  j["dp_type"] = to_string(s.dp_type);
  j["checkpoint"] = s.checkpoint;
  return j;
}

bool Prediction::operator==(const Prediction& o) const {
  return iteration == o.iteration && samples_per_s == o.samples_per_s &&
         stage_peak_memory == o.stage_peak_memory && profile_source == o.profile_source;
}

StageIdx Strategy::stage_of_layer(LayerIdx l) const {
  PARATUNE_CHECK_MSG(l >= 0, "negative layer index");
  int end = 0;
  for (StageIdx s = 0; s < static_cast<int>(pp_division.size()); ++s) {
    end += pp_division[s];
    if (l < end) return s;
  }
  PARATUNE_CHECK_MSG(false, "layer " + std::to_string(l) + " beyond pp_division");
  return -1;
}

LayerIdx Strategy::first_layer(StageIdx s) const {
  PARATUNE_CHECK_MSG(s >= 0 && s <= static_cast<int>(pp_division.size()),
                     "stage " + std::to_string(s) + " out of range");
  return std::accumulate(pp_division.begin(), pp_division.begin() + s, 0);
}

bool Strategy::operator==(const Strategy& o) const {
  return num_devices == o.num_devices && pp == o.pp && pp_division == o.pp_division &&
         micro_batches == o.micro_batches && global_batch == o.global_batch &&
         embedding == o.embedding && layers == o.layers &&
         model_fingerprint == o.model_fingerprint &&
         cluster_fingerprint == o.cluster_fingerprint && predicted == o.predicted;
}

namespace {

bool is_pow2(int v) { return v >= 1 && (v & (v - 1)) == 0; }

Status field_error(const std::string& file, const std::string& field, const std::string& what) {
  return InvalidArgument(file + ": field \"" + field + "\": " + what);
}

std::string layer_field(int i, const char* key) {
  return (i < 0 ? std::string("embedding") : "layers[" + std::to_string(i) + "]") + "." + key;
}

/// Checks one layer's (or, for i < 0, the embedding's) structure.
Status check_layer(const Strategy& s, const LayerStrategy& ls, int i, const std::string& file) {
  const int g = s.devices_per_stage();
  const std::string ts = std::to_string(ls.tp), ds = std::to_string(ls.dp);
  if (!is_pow2(ls.tp)) {
    return field_error(file, layer_field(i, "tp"), "must be a power of two >= 1, got " + ts);
  }
  if (!is_pow2(ls.dp)) {
    return field_error(file, layer_field(i, "dp"), "must be a power of two >= 1, got " + ds);
  }
  if (ls.tp * ls.dp != g) {
    return field_error(file, layer_field(i, "dp"),
                       "tp * dp must equal the devices per stage (num_devices / pp = " +
                           std::to_string(g) + "), got tp " + ts + " * dp " + ds + " = " +
                           std::to_string(ls.tp * ls.dp));
  }
  if (ls.sp && ls.tp == 1) {
    return field_error(file, layer_field(i, "sp"), "sequence parallel needs tp > 1");
  }
  if (i < 0 && ls.checkpoint) {
    return field_error(file, layer_field(i, "checkpoint"),
                       "the embedding / LM head cannot be checkpointed");
  }
  const int micro = s.global_batch / s.micro_batches;
  if (micro % ls.dp != 0) {
    return field_error(file, layer_field(i, "dp"),
                       "the micro-batch (global_batch / micro_batches = " +
                           std::to_string(micro) + ") is not divisible by dp " + ds);
  }
  return Status::Ok();
}

Status check_divisible(const std::string& file, const std::string& field, const char* what,
                       int value, int tp) {
  if (value % tp == 0) return Status::Ok();
  return field_error(file, field,
                     std::string("tp ") + std::to_string(tp) + " does not divide the model's " +
                         what + " (" + std::to_string(value) + ")");
}

LayerStrategy read_layer(ObjectReader r) {
  LayerStrategy ls;
  ls.tp = static_cast<int>(r.integer("tp", 1, 1 << 30));
  ls.tp_consecutive = r.boolean("tp_consecutive");
  ls.sp = r.boolean("sp");
  ls.dp = static_cast<int>(r.integer("dp", 1, 1 << 30));
  const std::string t = r.enumeration("dp_type", {"ddp", "zero2", "zero3"});
  ls.dp_type = t == "zero3" ? DpType::kZero3 : t == "zero2" ? DpType::kZero2 : DpType::kDdp;
  ls.checkpoint = r.boolean("checkpoint");
  (void)r.finish();  // the first error of the whole read comes out of the root's finish()
  return ls;
}

}  // namespace

Status validate_structure(const Strategy& s, const std::string& file) {
  if (s.num_devices < 1) {
    return field_error(file, "num_devices", "must be >= 1, got " + std::to_string(s.num_devices));
  }
  if (!is_pow2(s.pp)) {
    return field_error(file, "pp", "must be a power of two >= 1, got " + std::to_string(s.pp));
  }
  if (s.num_devices % s.pp != 0) {
    return field_error(file, "pp",
                       "must divide num_devices (" + std::to_string(s.num_devices) + "), got " +
                           std::to_string(s.pp));
  }
  const int n_layers = static_cast<int>(s.layers.size());
  if (n_layers < s.pp) {
    return field_error(file, "pp",
                       "fewer layers (" + std::to_string(n_layers) + ") than pipeline stages (" +
                           std::to_string(s.pp) + ")");
  }
  if (static_cast<int>(s.pp_division.size()) != s.pp) {
    return field_error(file, "pp_division",
                       "needs one entry per pipeline stage (pp = " + std::to_string(s.pp) +
                           "), got " + std::to_string(s.pp_division.size()));
  }
  int sum = 0;
  for (size_t i = 0; i < s.pp_division.size(); ++i) {
    if (s.pp_division[i] < 1) {
      return field_error(file, "pp_division[" + std::to_string(i) + "]",
                         "every stage needs >= 1 layer, got " +
                             std::to_string(s.pp_division[i]));
    }
    sum += s.pp_division[i];
  }
  if (sum != n_layers) {
    return field_error(file, "pp_division",
                       "sums to " + std::to_string(sum) + " but there are " +
                           std::to_string(n_layers) + " layers");
  }
  if (s.micro_batches < 1) {
    return field_error(file, "micro_batches",
                       "must be >= 1, got " + std::to_string(s.micro_batches));
  }
  if (s.global_batch < 1 || s.global_batch % s.micro_batches != 0) {
    return field_error(file, "global_batch",
                       "must be a positive multiple of micro_batches (" +
                           std::to_string(s.micro_batches) + "), got " +
                           std::to_string(s.global_batch));
  }
  PARATUNE_RETURN_IF_ERROR(check_layer(s, s.embedding, -1, file));
  for (int i = 0; i < n_layers; ++i) PARATUNE_RETURN_IF_ERROR(check_layer(s, s.layers[i], i, file));
  if (s.predicted && static_cast<int>(s.predicted->stage_peak_memory.size()) != s.pp) {
    return field_error(file, "predicted.stage_peak_memory_bytes",
                       "needs one entry per pipeline stage (pp = " + std::to_string(s.pp) +
                           "), got " + std::to_string(s.predicted->stage_peak_memory.size()));
  }
  return Status::Ok();
}

Status validate(const Strategy& s, const ModelConfig& m, const std::string& file) {
  const int n_layers = static_cast<int>(s.layers.size());
  if (m.num_layers < s.pp && n_layers == m.num_layers) {
    return field_error(file, "pp",
                       "the model has fewer layers (" + std::to_string(m.num_layers) +
                           ") than pipeline stages (" + std::to_string(s.pp) + ")");
  }
  if (n_layers != m.num_layers) {
    return field_error(file, "layers",
                       "has " + std::to_string(n_layers) + " entries but the model \"" + m.name +
                           "\" has " + std::to_string(m.num_layers) + " layers");
  }
  PARATUNE_RETURN_IF_ERROR(validate_structure(s, file));
  if (!s.model_fingerprint.empty() && s.model_fingerprint != fingerprint(m)) {
    return field_error(file, "model_fingerprint",
                       "the plan was searched for model " + s.model_fingerprint +
                           ", but model \"" + m.name + "\" is " + fingerprint(m));
  }
  for (int i = -1; i < n_layers; ++i) {
    const LayerStrategy& ls = i < 0 ? s.embedding : s.layers[i];
    const std::string f = layer_field(i, "tp");
    if (i < 0) {
      PARATUNE_RETURN_IF_ERROR(check_divisible(file, f, "vocab", m.vocab, ls.tp));
    } else {
      PARATUNE_RETURN_IF_ERROR(check_divisible(file, f, "heads", m.heads, ls.tp));
      PARATUNE_RETURN_IF_ERROR(check_divisible(file, f, "kv_heads", m.kv_heads, ls.tp));
      PARATUNE_RETURN_IF_ERROR(check_divisible(file, f, "ffn_hidden", m.ffn_hidden, ls.tp));
    }
    PARATUNE_RETURN_IF_ERROR(check_divisible(file, f, "hidden", m.hidden, ls.tp));
    if (ls.sp) {
      PARATUNE_RETURN_IF_ERROR(
          check_divisible(file, layer_field(i, "sp"), "seq_len (sp)", m.seq_len, ls.tp));
    }
  }
  return Status::Ok();
}

StatusOr<Strategy> strategy_from_json(const Json& j, const std::string& file) {
  ObjectReader r(j, file);
  Strategy s;
  r.format_version(Strategy::kFormatVersion);
  s.num_devices = static_cast<int>(r.integer("num_devices", 1, 1 << 30));
  s.pp = static_cast<int>(r.integer("pp", 1, 1 << 30));
  for (int64_t v : r.integers("pp_division", 1)) s.pp_division.push_back(static_cast<int>(v));
  s.micro_batches = static_cast<int>(r.integer("micro_batches", 1, 1 << 30));
  s.global_batch = static_cast<int>(r.integer("global_batch", 1, 1 << 30));
  s.embedding = read_layer(r.object("embedding"));
  for (ObjectReader& lr : r.objects("layers", 1)) s.layers.push_back(read_layer(lr));
  s.model_fingerprint = r.string("model_fingerprint");
  s.cluster_fingerprint = r.string("cluster_fingerprint");
  if (r.has("predicted")) {
    ObjectReader pr = r.object("predicted");
    Prediction p;
    p.iteration = Milliseconds(pr.number("iteration_ms"));
    p.samples_per_s = pr.number("samples_per_s");
    for (double b : pr.numbers("stage_peak_memory_bytes")) p.stage_peak_memory.emplace_back(b);
    p.profile_source =
        pr.enumeration("profile_source", {"measured", "analytic", "galvatron-import"});
    (void)pr.finish();
    s.predicted = std::move(p);
  }
  PARATUNE_RETURN_IF_ERROR(r.finish());
  PARATUNE_RETURN_IF_ERROR(validate_structure(s, file));
  return s;
}

StatusOr<Strategy> load_strategy(const std::string& path) {
  PARATUNE_ASSIGN_OR_RETURN(Json j, read_json_file(path));
  return strategy_from_json(j, path);
}

Json to_json(const Strategy& s) {
  Json j;
  j["format_version"] = Strategy::kFormatVersion;
  j["num_devices"] = s.num_devices;
  j["pp"] = s.pp;
  j["pp_division"] = s.pp_division;
  j["micro_batches"] = s.micro_batches;
  j["global_batch"] = s.global_batch;
  j["embedding"] = to_json(s.embedding);
  Json layers = Json::array();
  for (const LayerStrategy& ls : s.layers) layers.push_back(to_json(ls));
  j["layers"] = std::move(layers);
  j["model_fingerprint"] = s.model_fingerprint;
  j["cluster_fingerprint"] = s.cluster_fingerprint;
  if (s.predicted) {
    Json p;
    p["iteration_ms"] = s.predicted->iteration.value;
    p["samples_per_s"] = s.predicted->samples_per_s;
    Json mem = Json::array();
    for (Bytes b : s.predicted->stage_peak_memory) mem.push_back(b.value);
    p["stage_peak_memory_bytes"] = std::move(mem);
    p["profile_source"] = s.predicted->profile_source;
    j["predicted"] = std::move(p);
  }
  return j;
}

Strategy uniform_strategy(int devices, int pp, const LayerStrategy& ls, int layers,
                          int global_batch, int micro_batches) {
  Strategy s;
  s.num_devices = devices;
  s.pp = pp;
  s.pp_division.assign(pp, layers / pp);
  for (int i = 0; i < layers % pp; ++i) s.pp_division[i] += 1;
  s.micro_batches = micro_batches;
  s.global_batch = global_batch;
  s.layers.assign(layers, ls);
  s.embedding = ls;
  s.embedding.checkpoint = false;
  return s;
}

}  // namespace paratune
