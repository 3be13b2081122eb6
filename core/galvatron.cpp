// Galvatron profile import and strategy conversion.
//
// Units. Galvatron's hardware profiler runs nccl-tests (or a torch script that mimics it):
// bandwidths are nccl-tests "bus bandwidth" in GB/s with 1 GB = 1e9 B (nccl-tests divides by
// 1.0E9), which is exactly paratune's bus-bandwidth convention (core/cluster_profile.h), so
// bytes_per_s = GB/s * 1e9. Sizes in "..._{m}MB_time" keys and the memory profiles' MB are MiB
// (Galvatron divides by 1024*1024); times are milliseconds.
//
// Hardware files (W = nodes * g devices, islands = nodes of g devices, ranks node by node):
//   allreduce_bandwidth_{nodes}nodes_{g}gpus_per_node.json
//     "allreduce_size_{n}_consec_{c}": bus GB/s of an allreduce over groups of n ranks laid out
//     as Galvatron's profiler does (allreduce_group below): c = 1 -> [i*n, (i+1)*n), c = 0 ->
//     {i, i + W/n, ...}. Placement is derived from that layout: a consecutive group spans
//     islands iff n > g; a strided group of a multi-node world always does (its stride W/n
//     times n-1 is >= W/2 >= g), and never in a one-node world.
//     -> CollectiveFit{allreduce, n, placement, consecutive = c, bus_bandwidth}
//   p2p_bandwidth_{nodes}nodes_{g}gpus_per_node.json
//     "pp_size_{k}": GB/s of nccl-tests sendrecv in a ring over {i, i + W/k, ...} (k pipeline
//     stages, split across nodes first). With >= 2 nodes every such ring crosses nodes (ranks i
//     and i + W/2 are always in it), with one node none does.
//     -> P2pFit{placement}: the MINIMUM over k of that placement (the ring with k stages keeps
//     k links busy at once, as a k-stage 1F1B pipeline does; P2pFit has no pp dimension, so we
//     take the conservative value). Galvatron measures no p2p latency: 0.01 ms.
//   overlap_coefficient.json
//     "overlap_coe": max(comm slowdown while compute runs, compute slowdown while comm runs),
//     clamped to >= 1 by Galvatron's profiler. -> compute_slowdown = comm_slowdown = overlap_coe.
//   sp_time_{nodes}nodes_{g}gpus_per_node.json
//     "allreduce_size_{n}_{m}MB_time", "all2all_size_{n}_{m}MB_time": ms of one collective on a
//     full tensor of m MiB over consecutive groups of n (m = 1..1024).
//     -> samples; an alpha-beta fit per (op, n) minimising squared relative residuals
//        (fit_alpha_beta): t_ms = alpha + f(op, n) * bytes / busbw * 1e3.
//     all2all: CollectiveFit{all2all, n, intra, consecutive} = the fit (latency + bandwidth).
//     allreduce: the fit gives the LATENCY of every allreduce entry of group size n (the
//     bandwidth files have no latency); entries of a size sp_time lacks take the largest fitted
//     allreduce latency (a bigger group does not start faster), 0.01 ms without sp_time. The
//     bus bandwidth stays the allreduce_bandwidth value (what Galvatron's own cost model uses for
//     gradient allreduce); the sp_time samples are kept on the intra consecutive entry. (In the
//     A800 data the sp_time fits imply ~205 GB/s vs 138-159 GB/s in allreduce_bandwidth.)
//   Collectives Galvatron never measures (allgather, reduce_scatter; all2all outside sp_time)
//   are left out: the estimator prices them with allreduce's bus bandwidth and latency.
//
// Model files (one layer type "layertype_0" = the transformer layer):
//   computation_profiling_*.json
//     "layertype_0_bsz{b}_seq{s}": FORWARD ms per sample of one layer at micro-batch b, tp 1
//       (= (T(layernum[4]) - T(layernum[2])) / 2 / b of the raw "layernum[...]" entries).
//     "layertype_other[_0]_bsz{b}_seq{s}": forward ms per sample of everything else (embedding,
//       final norm, LM head, loss).
//     -> ComputePoint{b, tp 1, forward = per_sample * b, backward = 2 * forward} (Galvatron's
//        bct_fct_coe = 2). "other" is split: embedding = the memory-bound gather
//        2 * s * hidden * dtype_bytes / memory_bandwidth per sample, LM head = the rest.
//   memory_profiling_*.json (MiB; "_sp" = measured with Megatron sequence parallel)
//     "layertype_0[_sp]": {seq: {"parameter_size": MiB of the layer's fp32 parameters,
//       "tp_activation_per_bsz_dict": {tp: MiB per sample, "checkpoint": MiB per sample}}}
//     -> param_count = parameter_size * 2^20 / 4; ActivationPoint{tp, sp = "_sp" && tp > 1};
//        checkpoint_bytes_per_sample (tp 1). No sp = false points for tp > 1 are invented from
//        an "_sp" file: the estimator derives missing (tp, sp) points with Korthikanti's ratio.
//     "other_memory_pp_on_first[_sp]" / "..._pp_on_last[_sp]": {seq: {"model_states": {tp: MiB},
//       "activation": {tp: MiB per sample}}} of the first stage (embedding) / last stage (final
//       norm + LM head) -> param_count = model_states[tp 1] * 2^20 / 16 (Galvatron's model
//       states are fp32 param + grad + Adam m, v = 16 B/param), activation points as above.
//     "other_memory_pp_off[_sp]" (embedding and head on one device) and the raw per-strategy
//     entries "{pp}_{tp}_{dp}[_c][_vtp][_sp]" are not needed and skipped.
//
// Strategy config ("galvatron_config_*.json"): see import_strategy / export_strategy in
// galvatron.h and docs/galvatron.md. "use_sp" is Ulysses sequence parallelism in Galvatron
// (sp_size = tp_sizes_enc, tp = 1), not Megatron SP.
#include "core/galvatron.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iomanip>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

namespace paratune::galvatron {

namespace fs = std::filesystem;

namespace {

constexpr double kGB = 1e9;                 // nccl-tests GB
constexpr double kDefaultLatencyMs = 0.01;  // when nothing measured a latency
constexpr double kModelStateBytesPerParam = 16;
constexpr double kFp32Bytes = 4;

std::string field_error(const std::string& file, const std::string& key, const std::string& what) {
  return file + ": field \"" + key + "\": " + what;
}

std::string fmt(double v, int precision = 4) {
  std::ostringstream ss;
  ss << std::setprecision(precision) << v;
  return ss.str();
}

std::string join(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

// Decimal digits only, fits an int.
bool parse_int(const std::string& s, int* out) {
  if (s.empty() || s.size() > 9) return false;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
  }
  *out = std::stoi(s);
  return true;
}

StatusOr<double> positive_number(const Json& v, const std::string& file, const std::string& key) {
  if (!v.is_number()) {
    return InvalidArgument(field_error(file, key, "expected a number, got " + v.dump()));
  }
  const double d = v.get<double>();
  if (!std::isfinite(d) || d <= 0) {
    return InvalidArgument(
        field_error(file, key, "must be a positive finite number, got " + v.dump()));
  }
  return d;
}

StatusOr<Json> read_object_file(const std::string& path) {
  PARATUNE_ASSIGN_OR_RETURN(Json j, read_json_file(path));
  if (!j.is_object()) return InvalidArgument(path + ": top level: expected a JSON object");
  return j;
}

bool is_power_of_two(int v) {
  return v >= 1 && (v & (v - 1)) == 0;
}

std::string hw_file(const std::string& prefix, int nodes, int gpus_per_node) {
  return prefix + "_" + std::to_string(nodes) + "nodes_" + std::to_string(gpus_per_node) +
         "gpus_per_node.json";
}

bool spans_islands(const std::vector<Rank>& ranks, int gpus_per_node) {
  for (Rank r : ranks) {
    if (r / gpus_per_node != ranks.front() / gpus_per_node) return true;
  }
  return false;
}

// ----------------------------------------- hardware ------------------------------------------

struct World {
  int nodes = 1;
  int gpus_per_node = 1;
  int size() const { return nodes * gpus_per_node; }
};

struct BandwidthEntry {
  int n = 0;
  bool consecutive = true;
  Placement placement = Placement::kIntraIsland;
  double bytes_per_s = 0;
};

Status check_group_size(int n, int world, const std::string& file, const std::string& key) {
  if (n < 2 || n > world || world % n != 0) {
    return InvalidArgument(field_error(file, key,
                                       "group size " + std::to_string(n) + " does not divide the " +
                                           std::to_string(world) + " devices"));
  }
  return Status::Ok();
}

StatusOr<std::vector<BandwidthEntry>> read_allreduce_bandwidth(const std::string& path,
                                                               const World& w) {
  PARATUNE_ASSIGN_OR_RETURN(Json j, read_object_file(path));
  static const std::regex kKey(R"(allreduce_size_(\d+)_consec_([01]))");
  std::vector<BandwidthEntry> out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::smatch m;
    int n = 0;
    if (!std::regex_match(it.key(), m, kKey) || !parse_int(m[1], &n)) {
      return InvalidArgument(
          field_error(path, it.key(), "unknown key (expected allreduce_size_{n}_consec_{0|1})"));
    }
    PARATUNE_RETURN_IF_ERROR(check_group_size(n, w.size(), path, it.key()));
    PARATUNE_ASSIGN_OR_RETURN(double gbps, positive_number(it.value(), path, it.key()));
    BandwidthEntry e;
    e.n = n;
    e.consecutive = m[2] == "1";
    e.placement = allreduce_placement(w.size(), w.gpus_per_node, n, e.consecutive);
    e.bytes_per_s = std::round(gbps * kGB);  // whole B/s: GB/s has <= 6 digits
    out.push_back(e);
  }
  return out;
}

struct P2pEntry {
  int pp = 0;
  Placement placement = Placement::kIntraIsland;
  double bytes_per_s = 0;
};

StatusOr<std::vector<P2pEntry>> read_p2p_bandwidth(const std::string& path, const World& w) {
  PARATUNE_ASSIGN_OR_RETURN(Json j, read_object_file(path));
  static const std::regex kKey(R"(pp_size_(\d+))");
  std::vector<P2pEntry> out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::smatch m;
    int pp = 0;
    if (!std::regex_match(it.key(), m, kKey) || !parse_int(m[1], &pp)) {
      return InvalidArgument(field_error(path, it.key(), "unknown key (expected pp_size_{k})"));
    }
    PARATUNE_RETURN_IF_ERROR(check_group_size(pp, w.size(), path, it.key()));
    PARATUNE_ASSIGN_OR_RETURN(double gbps, positive_number(it.value(), path, it.key()));
    out.push_back(
        P2pEntry{pp, p2p_placement(w.size(), w.gpus_per_node, pp), std::round(gbps * kGB)});
  }
  return out;
}

struct SpSeries {
  CollectiveOp op = CollectiveOp::kAllReduce;
  int n = 0;
  Placement placement = Placement::kIntraIsland;  // in the cluster being imported
  std::vector<CommSample> samples;                // ordered by size
  AlphaBeta fit;
  double bus_bandwidth = 0;
};

// Series usable for the cluster `w`: groups that are intra-node in the sp_time file's own world
// and fit one of w's nodes, or any group when the file was measured on w itself.
StatusOr<std::vector<SpSeries>> read_sp_time(const std::string& path, const World& sp_world,
                                             const World& w) {
  PARATUNE_ASSIGN_OR_RETURN(Json j, read_object_file(path));
  static const std::regex kKey(R"((allreduce|all2all)_size_(\d+)_(\d+)MB_time)");
  std::map<std::pair<int, int>, SpSeries> series;  // (op, n) -> series
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::smatch m;
    int n = 0, mib = 0;
    if (!std::regex_match(it.key(), m, kKey) || !parse_int(m[2], &n) || !parse_int(m[3], &mib) ||
        mib <= 0) {
      return InvalidArgument(field_error(
          path, it.key(), "unknown key (expected {allreduce|all2all}_size_{n}_{m}MB_time)"));
    }
    PARATUNE_RETURN_IF_ERROR(check_group_size(n, sp_world.size(), path, it.key()));
    PARATUNE_ASSIGN_OR_RETURN(double ms, positive_number(it.value(), path, it.key()));
    const Placement own = allreduce_placement(sp_world.size(), sp_world.gpus_per_node, n, true);
    const bool same_world = sp_world.nodes == w.nodes && sp_world.gpus_per_node == w.gpus_per_node;
    if (!same_world && (own != Placement::kIntraIsland || n > w.gpus_per_node)) continue;
    const CollectiveOp op =
        m[1] == "allreduce" ? CollectiveOp::kAllReduce : CollectiveOp::kAllToAll;
    SpSeries& s = series[{static_cast<int>(op), n}];
    s.op = op;
    s.n = n;
    s.placement = same_world ? own : Placement::kIntraIsland;
    s.samples.push_back(CommSample{Bytes(mib * kMiB), Milliseconds(ms)});
  }
  std::vector<SpSeries> out;
  for (auto& [key, s] : series) {
    std::sort(s.samples.begin(), s.samples.end(),
              [](const CommSample& a, const CommSample& b) { return a.bytes < b.bytes; });
    StatusOr<AlphaBeta> fit = fit_alpha_beta(s.samples);
    if (!fit.ok()) {
      return InvalidArgument(path + ": " + to_string(s.op) + " group size " + std::to_string(s.n) +
                             ": " + fit.status().message());
    }
    s.fit = *fit;
    if (s.fit.ms_per_byte <= 0) {
      return InvalidArgument(path + ": " + to_string(s.op) + " group size " + std::to_string(s.n) +
                             ": time does not grow with the message size");
    }
    s.bus_bandwidth = algo_factor(s.op, s.n) * 1e3 / s.fit.ms_per_byte;
    out.push_back(std::move(s));
  }
  return out;
}

// sp_time file for w: the exact one, else the one-node file with the smallest g' >= g.
std::optional<std::pair<std::string, World>> find_sp_time(const std::string& dir, const World& w) {
  const std::string exact = hw_file("sp_time", w.nodes, w.gpus_per_node);
  if (fs::exists(fs::path(dir) / exact)) return std::make_pair(exact, w);
  static const std::regex kName(R"(sp_time_1nodes_(\d+)gpus_per_node\.json)");
  std::optional<std::pair<std::string, World>> best;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    std::smatch m;
    int g = 0;
    if (!std::regex_match(name, m, kName) || !parse_int(m[1], &g) || g < w.gpus_per_node) continue;
    if (!best || g < best->second.gpus_per_node) best = std::make_pair(name, World{1, g});
  }
  return best;
}

using FitKey = std::tuple<int, int, int, bool>;  // op, n, placement, consecutive
FitKey key_of(CollectiveOp op, int n, Placement p, bool consecutive) {
  return {static_cast<int>(op), n, static_cast<int>(p), consecutive};
}

// ------------------------------------------- model -------------------------------------------

// seq -> micro-batch -> ms per sample
using TimeTable = std::map<int, std::map<int, double>>;

struct ComputationFile {
  TimeTable layer;
  TimeTable other;
};

StatusOr<ComputationFile> read_computation(const std::string& path) {
  PARATUNE_ASSIGN_OR_RETURN(Json j, read_object_file(path));
  static const std::regex kRaw(R"(layernum\[[0-9,]+\]_bsz(\d+)_seq(\d+))");
  static const std::regex kLayer(R"(layertype_(\d+)_bsz(\d+)_seq(\d+))");
  static const std::regex kOther(R"(layertype_other(?:_(\d+))?_bsz(\d+)_seq(\d+))");
  ComputationFile out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    std::smatch m;
    int type = 0, b = 0, s = 0;
    if (std::regex_match(key, m, kRaw)) {  // raw totals the per-layer numbers came from
      PARATUNE_RETURN_IF_ERROR(positive_number(it.value(), path, key).status());
      continue;
    }
    TimeTable* table = nullptr;
    if (std::regex_match(key, m, kLayer) && parse_int(m[1], &type) && parse_int(m[2], &b) &&
        parse_int(m[3], &s)) {
      table = &out.layer;
    } else if (std::regex_match(key, m, kOther) && (!m[1].matched || parse_int(m[1], &type)) &&
               parse_int(m[2], &b) && parse_int(m[3], &s)) {
      table = &out.other;
    } else {
      return InvalidArgument(field_error(
          path, key,
          "unknown key (expected layertype_0_bsz{b}_seq{s}, layertype_other[_0]_bsz{b}_seq{s} "
          "or layernum[...]_bsz{b}_seq{s})"));
    }
    if (type != 0) {
      return InvalidArgument(
          field_error(path, key,
                      "layer type " + std::to_string(type) +
                          ": paratune models one transformer layer type (layertype_0) only"));
    }
    if (b < 1 || s < 1) {
      return InvalidArgument(field_error(path, key, "batch size and seq must be >= 1"));
    }
    PARATUNE_ASSIGN_OR_RETURN(double ms, positive_number(it.value(), path, key));
    (*table)[s][b] = ms;
  }
  if (out.layer.empty()) {
    return InvalidArgument(path + ": no \"layertype_0_bsz{b}_seq{s}\" entries");
  }
  if (out.other.empty()) {
    return InvalidArgument(path + ": no \"layertype_other_bsz{b}_seq{s}\" entries");
  }
  return out;
}

// {tp: MiB} dictionary (plus "checkpoint" when allowed).
struct TpDict {
  std::map<int, double> by_tp;
  std::optional<double> checkpoint;
};

StatusOr<TpDict> read_tp_dict(const Json& j, const std::string& file, const std::string& field,
                              bool allow_checkpoint) {
  if (!j.is_object()) {
    return InvalidArgument(field_error(file, field, "expected an object {tp: MiB}"));
  }
  TpDict d;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string f = field + "." + it.key();
    if (!it.value().is_number() || !std::isfinite(it.value().get<double>()) ||
        it.value().get<double>() < 0) {
      return InvalidArgument(
          field_error(file, f, "expected a non-negative number, got " + it.value().dump()));
    }
    const double v = it.value().get<double>();
    int tp = 0;
    if (allow_checkpoint && it.key() == "checkpoint") {
      d.checkpoint = v;
    } else if (parse_int(it.key(), &tp) && is_power_of_two(tp)) {
      d.by_tp[tp] = v;
    } else {
      return InvalidArgument(field_error(file, f,
                                         std::string("unknown key (expected a power-of-"
                                                     "two tp degree") +
                                             (allow_checkpoint ? " or \"checkpoint\")" : ")")));
    }
  }
  if (!d.by_tp.count(1)) return InvalidArgument(field_error(file, field, "no entry for tp 1"));
  return d;
}

struct LayerMemory {
  double parameter_mib = 0;
  TpDict activation;  // MiB per sample, with checkpoint
};

struct OtherMemory {
  TpDict model_states;  // MiB
  TpDict activation;    // MiB per sample
};

std::string seq_list(const std::set<int>& seqs) {
  std::string s;
  for (int v : seqs) s += (s.empty() ? "" : ", ") + std::to_string(v);
  return s;
}

// The object for `seq` of a {seq: {...}} entry, or an error listing the available ones.
StatusOr<const Json*> seq_entry(const Json& top, const std::string& file, const std::string& key,
                                int seq) {
  const Json& v = top.at(key);
  if (!v.is_object()) return InvalidArgument(field_error(file, key, "expected {seq: {...}}"));
  std::set<int> seqs;
  for (auto it = v.begin(); it != v.end(); ++it) {
    int s = 0;
    if (!parse_int(it.key(), &s)) {
      return InvalidArgument(field_error(file, key + "." + it.key(), "expected a seq length"));
    }
    seqs.insert(s);
  }
  const std::string k = std::to_string(seq);
  if (!v.contains(k)) {
    return NotFound(field_error(
        file, key, "no entry for seq_len " + k + " (the file has " + seq_list(seqs) + ")"));
  }
  return &v[k];
}

StatusOr<LayerMemory> read_layer_memory(const Json& top, const std::string& file,
                                        const std::string& key, int seq) {
  PARATUNE_ASSIGN_OR_RETURN(const Json* e, seq_entry(top, file, key, seq));
  const std::string base = key + "." + std::to_string(seq);
  ObjectReader r(*e, file, base);
  LayerMemory out;
  out.parameter_mib = r.number("parameter_size", 1e-12);
  const Json& act = r.raw("tp_activation_per_bsz_dict");
  PARATUNE_RETURN_IF_ERROR(r.finish());
  PARATUNE_ASSIGN_OR_RETURN(out.activation,
                            read_tp_dict(act, file, base + ".tp_activation_per_bsz_dict", true));
  if (!out.activation.checkpoint) {
    return InvalidArgument(
        field_error(file, base + ".tp_activation_per_bsz_dict", "no \"checkpoint\" entry"));
  }
  return out;
}

StatusOr<OtherMemory> read_other_memory(const Json& top, const std::string& file,
                                        const std::string& key, int seq) {
  PARATUNE_ASSIGN_OR_RETURN(const Json* e, seq_entry(top, file, key, seq));
  const std::string base = key + "." + std::to_string(seq);
  ObjectReader r(*e, file, base);
  const Json& states = r.raw("model_states");
  const Json& act = r.raw("activation");
  PARATUNE_RETURN_IF_ERROR(r.finish());
  OtherMemory out;
  PARATUNE_ASSIGN_OR_RETURN(out.model_states,
                            read_tp_dict(states, file, base + ".model_states", false));
  PARATUNE_ASSIGN_OR_RETURN(out.activation, read_tp_dict(act, file, base + ".activation", false));
  if (out.model_states.by_tp.at(1) <= 0) {
    return InvalidArgument(field_error(file, base + ".model_states.1", "must be > 0"));
  }
  return out;
}

// Which top-level keys of a memory profile exist; checks there are no unknown ones.
struct MemoryKeys {
  std::set<std::string> present;
};

StatusOr<MemoryKeys> scan_memory_keys(const Json& j, const std::string& file) {
  static const std::regex kRaw(R"(\d+_\d+_\d+(_c)?(_vtp)?(_sp)?)");
  static const std::regex kLayer(R"(layertype_(\d+)(_sp)?)");
  static const std::regex kOther(R"(other_memory_pp_(off|on_first|on_last)(_sp)?)");
  MemoryKeys out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    std::smatch m;
    if (std::regex_match(key, m, kRaw)) continue;  // raw per-strategy measurements
    if (std::regex_match(key, m, kLayer)) {
      if (m[1] != "0") {
        return InvalidArgument(field_error(
            file, key, "paratune models one transformer layer type (layertype_0) only"));
      }
    } else if (!std::regex_match(key, m, kOther)) {
      return InvalidArgument(field_error(
          file, key,
          "unknown key (expected layertype_0[_sp], other_memory_pp_{off|on_first|on_last}[_sp] "
          "or {pp}_{tp}_{dp}[_c][_vtp][_sp])"));
    }
    out.present.insert(key);
  }
  return out;
}

void add_activation_points(const TpDict& d, bool sp_file, std::vector<ActivationPoint>* out) {
  for (const auto& entry : d.by_tp) {
    const auto tp = entry.first;  // not a structured binding: C++17 lambdas cannot capture one
    const auto mib = entry.second;
    const bool sp = sp_file && tp > 1;
    const bool exists = std::any_of(out->begin(), out->end(), [&](const ActivationPoint& a) {
      return a.tp == tp && a.sp == sp;
    });
    if (exists) continue;  // the "_sp" file came first and wins at tp 1
    ActivationPoint a;
    a.tp = tp;
    a.sp = sp;
    a.bytes_per_sample = Bytes(mib * kMiB);
    out->push_back(a);
  }
}

void sort_activation(std::vector<ActivationPoint>* v) {
  std::sort(v->begin(), v->end(), [](const ActivationPoint& a, const ActivationPoint& b) {
    return std::make_pair(a.tp, a.sp) < std::make_pair(b.tp, b.sp);
  });
}

// ------------------------------------------ strategy -----------------------------------------

// Comma-separated integers of a Galvatron "enc" string, each in [lo, hi].
std::vector<int> read_csv(ObjectReader& r, const char* key, int lo, int hi) {
  const std::string s = r.string(key);
  std::vector<int> out;
  if (!r.ok()) return out;
  size_t start = 0;
  for (int i = 0;; ++i) {
    const size_t comma = s.find(',', start);
    std::string item =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    // Galvatron's str2array tolerates spaces around numbers (int(" 2")).
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    int v = 0;
    if (!parse_int(item, &v) || v < lo || v > hi) {
      r.fail(key, "element " + std::to_string(i) + " \"" + item + "\" is not an integer in [" +
                      std::to_string(lo) + ", " + std::to_string(hi) + "]");
      return {};
    }
    out.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

DpType dp_type_from(const std::string& name) {
  if (name == "zero2") return DpType::kZero2;
  if (name == "zero3") return DpType::kZero3;
  return DpType::kDdp;
}

}  // namespace

// =============================================================================================

DeviceSpec a800_80gb() {
  DeviceSpec d;
  d.name = "A800-80GB";
  d.memory = Bytes(80e9);
  d.flops = FlopsPerSecond(312e12);
  d.memory_bandwidth = BytesPerSecond(2.039e12);
  return d;
}

std::vector<Rank> allreduce_group(int world, int n, bool consecutive, int index) {
  PARATUNE_CHECK(n >= 1 && world % n == 0 && index >= 0 && index < world / n);
  std::vector<Rank> out;
  const int groups = world / n;
  for (int k = 0; k < n; ++k) out.push_back(consecutive ? index * n + k : index + k * groups);
  return out;
}

std::vector<Rank> p2p_group(int world, int pp, int index) {
  return allreduce_group(world, pp, /*consecutive=*/false, index);
}

Placement allreduce_placement(int world, int gpus_per_node, int n, bool consecutive) {
  PARATUNE_CHECK(gpus_per_node >= 1 && world % gpus_per_node == 0);
  for (int i = 0; i < world / n; ++i) {
    if (spans_islands(allreduce_group(world, n, consecutive, i), gpus_per_node)) {
      return Placement::kInterIsland;
    }
  }
  return Placement::kIntraIsland;
}

Placement p2p_placement(int world, int gpus_per_node, int pp) {
  return allreduce_placement(world, gpus_per_node, pp, /*consecutive=*/false);
}

StatusOr<AlphaBeta> fit_alpha_beta(const std::vector<CommSample>& samples) {
  std::set<double> sizes;
  for (const CommSample& s : samples) {
    if (!(s.time.value > 0) || !std::isfinite(s.time.value) || !(s.bytes.value >= 0)) {
      return InvalidArgument("samples need positive finite times and non-negative sizes");
    }
    sizes.insert(s.bytes.value);
  }
  if (sizes.size() < 2) return InvalidArgument("need samples of at least 2 message sizes");
  // Weighted least squares with w_i = 1 / t_i^2.
  double sw = 0, sx = 0, sy = 0;
  for (const CommSample& s : samples) {
    const double w = 1.0 / (s.time.value * s.time.value);
    sw += w;
    sx += w * s.bytes.value;
    sy += w * s.time.value;
  }
  const double mx = sx / sw, my = sy / sw;
  double sxx = 0, sxy = 0;
  for (const CommSample& s : samples) {
    const double w = 1.0 / (s.time.value * s.time.value);
    sxx += w * (s.bytes.value - mx) * (s.bytes.value - mx);
    sxy += w * (s.bytes.value - mx) * (s.time.value - my);
  }
  AlphaBeta out;
  out.ms_per_byte = sxy / sxx;
  out.latency = Milliseconds(my - out.ms_per_byte * mx);
  if (out.latency.value < 0) {  // through the origin: minimise sum w (t - c x)^2
    double swxx = 0, swxy = 0;
    for (const CommSample& s : samples) {
      const double w = 1.0 / (s.time.value * s.time.value);
      swxx += w * s.bytes.value * s.bytes.value;
      swxy += w * s.bytes.value * s.time.value;
    }
    out.latency = Milliseconds(0);
    out.ms_per_byte = swxy / swxx;
  }
  return out;
}

StatusOr<ClusterProfile> import_hardware(const std::string& dir, int nodes, int gpus_per_node,
                                         DeviceSpec device) {
  if (nodes < 1 || gpus_per_node < 1) {
    return InvalidArgument(dir + ": nodes and gpus per node must be >= 1");
  }
  const World w{nodes, gpus_per_node};
  const auto path = [&](const std::string& name) { return (fs::path(dir) / name).string(); };
  std::vector<std::string> used;

  // Allreduce bandwidths: the cluster's own file, then intra-node keys it lacks from the
  // one-node file of the same node type.
  const std::string ar_name = hw_file("allreduce_bandwidth", nodes, gpus_per_node);
  PARATUNE_ASSIGN_OR_RETURN(std::vector<BandwidthEntry> allreduce,
                            read_allreduce_bandwidth(path(ar_name), w));
  used.push_back(ar_name);
  std::string ar_supplement;
  if (nodes > 1) {
    const std::string name = hw_file("allreduce_bandwidth", 1, gpus_per_node);
    if (fs::exists(path(name))) {
      PARATUNE_ASSIGN_OR_RETURN(std::vector<BandwidthEntry> one,
                                read_allreduce_bandwidth(path(name), World{1, gpus_per_node}));
      for (const BandwidthEntry& e : one) {
        const bool have = std::any_of(allreduce.begin(), allreduce.end(), [&](const auto& a) {
          return a.n == e.n && a.consecutive == e.consecutive && a.placement == e.placement;
        });
        if (!have) {
          allreduce.push_back(e);
          ar_supplement = name;
        }
      }
      if (!ar_supplement.empty()) used.push_back(name);
    }
  }

  // p2p: per placement from the cluster's file, else from the one-node file.
  const std::string p2p_name = hw_file("p2p_bandwidth", nodes, gpus_per_node);
  PARATUNE_ASSIGN_OR_RETURN(std::vector<P2pEntry> p2p, read_p2p_bandwidth(path(p2p_name), w));
  used.push_back(p2p_name);
  const bool have_intra_p2p = std::any_of(p2p.begin(), p2p.end(), [](const P2pEntry& e) {
    return e.placement == Placement::kIntraIsland;
  });
  if (nodes > 1 && !have_intra_p2p) {
    const std::string name = hw_file("p2p_bandwidth", 1, gpus_per_node);
    if (fs::exists(path(name))) {
      PARATUNE_ASSIGN_OR_RETURN(std::vector<P2pEntry> one,
                                read_p2p_bandwidth(path(name), World{1, gpus_per_node}));
      p2p.insert(p2p.end(), one.begin(), one.end());
      used.push_back(name);
    }
  }

  // Overlap.
  const std::string ov_name = "overlap_coefficient.json";
  PARATUNE_ASSIGN_OR_RETURN(Json ov_json, read_object_file(path(ov_name)));
  ObjectReader ov(ov_json, path(ov_name));
  const double overlap = ov.number("overlap_coe", 1.0);
  PARATUNE_RETURN_IF_ERROR(ov.finish());
  used.push_back(ov_name);

  // sp_time series (optional).
  std::vector<SpSeries> sp;
  if (auto sp_file = find_sp_time(dir, w)) {
    PARATUNE_ASSIGN_OR_RETURN(sp, read_sp_time(path(sp_file->first), sp_file->second, w));
    if (!sp.empty()) used.push_back(sp_file->first);
  }
  std::map<int, const SpSeries*> allreduce_fit;  // n -> series
  double max_fit_latency = -1;
  for (const SpSeries& s : sp) {
    if (s.op != CollectiveOp::kAllReduce) continue;
    allreduce_fit[s.n] = &s;
    max_fit_latency = std::max(max_fit_latency, s.fit.latency.value);
  }
  const auto latency_for = [&](int n) {
    if (auto it = allreduce_fit.find(n); it != allreduce_fit.end()) {
      return it->second->fit.latency;
    }
    return Milliseconds(max_fit_latency >= 0 ? max_fit_latency : kDefaultLatencyMs);
  };

  std::map<FitKey, CollectiveFit> fits;
  for (const BandwidthEntry& e : allreduce) {
    CollectiveFit f;
    f.op = CollectiveOp::kAllReduce;
    f.group_size = e.n;
    f.placement = e.placement;
    f.consecutive = e.consecutive;
    f.latency = latency_for(e.n);
    f.bus_bandwidth = BytesPerSecond(e.bytes_per_s);
    fits[key_of(f.op, f.group_size, f.placement, f.consecutive)] = f;
  }
  for (const SpSeries& s : sp) {
    const FitKey k = key_of(s.op, s.n, s.placement, true);
    auto it = fits.find(k);
    if (it != fits.end()) {  // allreduce measured by both: bandwidth file wins, keep samples
      it->second.samples = s.samples;
      continue;
    }
    CollectiveFit f;
    f.op = s.op;
    f.group_size = s.n;
    f.placement = s.placement;
    f.consecutive = true;
    f.latency = s.fit.latency;
    f.bus_bandwidth = BytesPerSecond(s.bus_bandwidth);
    f.samples = s.samples;
    fits[k] = f;
  }

  ClusterProfile c;
  c.name = "galvatron-" + device.name + "-" + std::to_string(nodes) + "x" +
           std::to_string(gpus_per_node);
  c.source = "galvatron-import";
  c.device = std::move(device);
  for (int i = 0; i < nodes; ++i)
    c.islands.push_back(Island{"node" + std::to_string(i), gpus_per_node});
  for (auto& [k, f] : fits) c.collectives.push_back(std::move(f));
  c.overlap.compute_slowdown = overlap;
  c.overlap.comm_slowdown = overlap;

  std::ostringstream note;
  note << "Imported from Galvatron hardware profiles:";
  for (size_t i = 0; i < used.size(); ++i) note << (i ? ", " : " ") << used[i];
  note << ". Bus bandwidths in GB/s with 1 GB = 1e9 B (nccl-tests).";
  if (!ar_supplement.empty()) {
    note << " Intra-node groups missing from " << ar_name << " come from " << ar_supplement << ".";
  }
  for (Placement pl : {Placement::kIntraIsland, Placement::kInterIsland}) {
    std::vector<const P2pEntry*> es;
    for (const P2pEntry& e : p2p) {
      if (e.placement == pl) es.push_back(&e);
    }
    if (es.empty()) continue;
    double bw = es.front()->bytes_per_s;
    std::string values;
    for (const P2pEntry* e : es) {
      bw = std::min(bw, e->bytes_per_s);
      values += (values.empty() ? "" : ", ") +
                ("pp" + std::to_string(e->pp) + " " + fmt(e->bytes_per_s / kGB));
    }
    P2pFit f;
    f.placement = pl;
    f.latency = Milliseconds(kDefaultLatencyMs);
    f.bandwidth = BytesPerSecond(bw);
    c.p2p.push_back(f);
    note << " p2p " << to_string(pl) << " = min over pp sizes (" << values << " GB/s).";
  }
  if (allreduce_fit.empty()) {
    note << " No sp_time file: allreduce latency " << kDefaultLatencyMs << " ms (not measured).";
  } else {
    note << " Allreduce latency from a relative least-squares fit of sp_time (n: latency ms / "
            "fitted bus GB/s:";
    for (const auto& [n, s] : allreduce_fit) {
      note << " " << n << ": " << fmt(s->fit.latency.value, 3) << " / "
           << fmt(s->bus_bandwidth / kGB);
    }
    note << "); sizes without a fit take the largest latency; bus bandwidth from "
            "allreduce_bandwidth.";
    bool any_a2a = false;
    for (const SpSeries& s : sp) any_a2a |= s.op == CollectiveOp::kAllToAll;
    if (any_a2a) note << " all2all: the sp_time fit.";
  }
  note << " overlap_coe " << fmt(overlap, 6) << " -> both slowdowns.";
  c.note = note.str();

  PARATUNE_RETURN_IF_ERROR(validate(c, dir));
  return c;
}

StatusOr<ClusterProfile> import_a800_cluster(const std::string& dir, int nodes, int gpus_per_node) {
  const fs::path hw = fs::path(dir) / "hardware";
  const std::string d = fs::is_directory(hw) ? hw.string() : dir;
  if (!fs::is_directory(d)) return NotFound(dir + ": no such directory");
  return import_hardware(d, nodes, gpus_per_node, a800_80gb());
}

StatusOr<ModelProfile> import_model(const std::string& computation_json,
                                    const std::string& memory_json, const ModelConfig& model,
                                    const ModelImportOptions& options) {
  if (model.seq_len < 1 || model.hidden < 1) {
    return InvalidArgument(computation_json + ": model \"" + model.name +
                           "\" needs seq_len and hidden >= 1");
  }
  if (!(options.memory_bandwidth.value > 0)) {
    return InvalidArgument("import_model: memory_bandwidth must be > 0");
  }
  const int seq = model.seq_len;

  // --- computation ---
  PARATUNE_ASSIGN_OR_RETURN(ComputationFile comp, read_computation(computation_json));
  for (const TimeTable* t : {&comp.layer, &comp.other}) {
    if (!t->count(seq)) {
      std::set<int> seqs;
      for (const auto& [s, _] : *t) seqs.insert(s);
      return NotFound(computation_json + ": no entries for seq_len " + std::to_string(seq) +
                      " of model \"" + model.name + "\" (the file has " + seq_list(seqs) + ")");
    }
  }

  // --- memory ---
  PARATUNE_ASSIGN_OR_RETURN(Json mem, read_object_file(memory_json));
  PARATUNE_ASSIGN_OR_RETURN(MemoryKeys keys, scan_memory_keys(mem, memory_json));
  // Prefer the sequence-parallel variant; read the plain one too when present.
  std::vector<std::pair<std::string, bool>> variants;  // suffix, is_sp
  for (auto v : {std::make_pair(std::string("_sp"), true), std::make_pair(std::string(), false)}) {
    if (keys.present.count("layertype_0" + v.first)) variants.push_back(v);
  }
  if (variants.empty()) {
    return InvalidArgument(memory_json + ": no \"layertype_0_sp\" or \"layertype_0\" entry");
  }
  const std::string main_suffix = variants.front().first;
  for (const char* k : {"other_memory_pp_on_first", "other_memory_pp_on_last"}) {
    if (!keys.present.count(k + main_suffix)) {
      return InvalidArgument(memory_json + ": no \"" + k + main_suffix + "\" entry");
    }
  }

  LayerTypeProfile layer, embedding, head;
  layer.name = "transformer";
  embedding.name = "embedding";
  head.name = "lm_head";
  for (size_t vi = 0; vi < variants.size(); ++vi) {
    const auto& [suffix, is_sp] = variants[vi];
    PARATUNE_ASSIGN_OR_RETURN(LayerMemory lm,
                              read_layer_memory(mem, memory_json, "layertype_0" + suffix, seq));
    if (vi == 0) {
      layer.param_count = std::llround(lm.parameter_mib * kMiB / kFp32Bytes);
      layer.checkpoint_bytes_per_sample = Bytes(*lm.activation.checkpoint * kMiB);
    }
    add_activation_points(lm.activation, is_sp, &layer.activation);
    for (LayerTypeProfile* p : {&embedding, &head}) {
      const std::string k =
          std::string(p == &embedding ? "other_memory_pp_on_first" : "other_memory_pp_on_last") +
          suffix;
      if (!keys.present.count(k)) continue;
      PARATUNE_ASSIGN_OR_RETURN(OtherMemory om, read_other_memory(mem, memory_json, k, seq));
      if (vi == 0) {
        p->param_count =
            std::llround(om.model_states.by_tp.at(1) * kMiB / kModelStateBytesPerParam);
      }
      add_activation_points(om.activation, is_sp, &p->activation);
    }
  }
  for (LayerTypeProfile* p : {&layer, &embedding, &head}) sort_activation(&p->activation);

  // --- compute points ---
  for (const auto& [b, per_sample] : comp.layer.at(seq)) {
    ComputePoint cp;
    cp.micro_batch = b;
    cp.tp = 1;
    cp.forward = Milliseconds(per_sample * b);
    cp.backward = cp.forward * 2.0;
    layer.compute.push_back(cp);
  }
  const double embed_ms_per_sample =
      2.0 * seq * model.hidden * dtype_bytes(model.dtype) / options.memory_bandwidth.value * 1e3;
  for (const auto& [b, per_sample] : comp.other.at(seq)) {
    if (per_sample <= embed_ms_per_sample) {
      return InvalidArgument(field_error(
          computation_json,
          "layertype_other_bsz" + std::to_string(b) + "_seq" + std::to_string(seq),
          fmt(per_sample) + " ms per sample is less than the embedding's memory-bound " +
              fmt(embed_ms_per_sample) + " ms"));
    }
    ComputePoint e;
    e.micro_batch = b;
    e.tp = 1;
    e.forward = Milliseconds(embed_ms_per_sample * b);
    e.backward = e.forward * 2.0;
    embedding.compute.push_back(e);
    ComputePoint h = e;
    h.forward = Milliseconds((per_sample - embed_ms_per_sample) * b);
    h.backward = h.forward * 2.0;
    head.compute.push_back(h);
  }

  ModelProfile p;
  p.model = model.name;
  p.model_fingerprint = fingerprint(model);
  p.source = "galvatron-import";
  p.device = options.device;
  p.seq_len = seq;
  p.layer_types = {std::move(layer), std::move(embedding), std::move(head)};
  PARATUNE_RETURN_IF_ERROR(validate(p, computation_json));
  return p;
}

StatusOr<ModelProfile> import_a800_model(const std::string& dir, const ModelConfig& model) {
  const fs::path d = fs::path(dir) / model.name;
  if (!fs::is_directory(d)) {
    std::string have;
    std::error_code ec;
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.is_directory() && e.path().filename() != "hardware") {
        names.push_back(e.path().filename().string());
      }
    }
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) have += (have.empty() ? "" : ", ") + n;
    return NotFound(dir + ": no Galvatron profiles for model \"" + model.name +
                    "\" (folders: " + (have.empty() ? "none" : have) + ")");
  }
  std::vector<std::string> comp, mem;
  for (const auto& e : fs::directory_iterator(d)) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() != ".json") continue;
    if (name.rfind("computation_profiling_", 0) == 0) comp.push_back(e.path().string());
    if (name.rfind("memory_profiling_", 0) == 0) mem.push_back(e.path().string());
  }
  if (comp.size() != 1 || mem.size() != 1) {
    return InvalidArgument(d.string() +
                           ": expected exactly one computation_profiling_*.json and one "
                           "memory_profiling_*.json");
  }
  return import_model(comp.front(), mem.front(), model);
}

StatusOr<Strategy> import_strategy(const Json& j, const std::string& file, int num_devices,
                                   const StrategyImportOptions& options) {
  if (num_devices < 1) return InvalidArgument(file + ": number of devices must be >= 1");
  ObjectReader r(j, file);
  const int pp = static_cast<int>(r.integer("pp_deg", 1, num_devices));
  const std::vector<int> tp = read_csv(r, "tp_sizes_enc", 1, num_devices);
  const std::vector<int> consec = read_csv(r, "tp_consecutive_flags", 0, 1);
  const std::vector<int> dp_types = read_csv(r, "dp_types_enc", 0, 1);
  // Absent: Galvatron's defaults (no Ulysses SP, no checkpointing, no context parallelism).
  const std::vector<int> use_sp =
      r.has("use_sp") ? read_csv(r, "use_sp", 0, 1) : std::vector<int>(tp.size(), 0);
  const std::vector<int> ckpt =
      r.has("checkpoint") ? read_csv(r, "checkpoint", 0, 1) : std::vector<int>(tp.size(), 0);
  const std::vector<int> cp =
      r.has("cp_sizes_enc") ? read_csv(r, "cp_sizes_enc", 1, 1) : std::vector<int>(tp.size(), 1);
  const int global_bsz = static_cast<int>(r.integer("global_bsz", 1, 1 << 30));
  const int chunks = static_cast<int>(r.integer("chunks", -1, 1 << 30));
  std::vector<int> division;
  if (r.has("pp_division")) division = read_csv(r, "pp_division", 1, 1 << 30);
  r.enumeration_or("pipeline_type", {"gpipe", "pipedream_flush"}, "gpipe");  // paratune: 1F1B
  const std::string default_dp =
      r.enumeration_or("default_dp_type", {"ddp", "zero2", "zero3"}, "ddp");
  const int vtp = static_cast<int>(r.integer_or("vtp", 1, 1, num_devices));
  const int vsp = static_cast<int>(r.integer_or("vsp", 0, 0, 1));
  const int embed_sdp = static_cast<int>(r.integer_or("embed_sdp", 0, 0, 1));
  const bool seq_parallel =
      r.integer_or("sequence_parallel", options.sequence_parallel ? 1 : 0, 0, 1) == 1;
  PARATUNE_RETURN_IF_ERROR(r.finish());

  const size_t layers = tp.size();
  const std::pair<const char*, const std::vector<int>*> lists[] = {
      {"tp_consecutive_flags", &consec},
      {"dp_types_enc", &dp_types},
      {"use_sp", &use_sp},
      {"checkpoint", &ckpt},
      {"cp_sizes_enc", &cp}};
  for (const auto& [name, v] : lists) {
    if (v->size() != layers) {
      r.fail(name, "has " + std::to_string(v->size()) + " entries, tp_sizes_enc has " +
                       std::to_string(layers));
    }
  }
  if (!is_power_of_two(pp)) r.fail("pp_deg", "must be a power of two, got " + std::to_string(pp));
  if (!is_power_of_two(vtp)) r.fail("vtp", "must be a power of two, got " + std::to_string(vtp));
  if (num_devices % pp != 0) {
    r.fail("pp_deg",
           std::to_string(pp) + " does not divide the " + std::to_string(num_devices) + " devices");
  }
  PARATUNE_RETURN_IF_ERROR(r.finish());
  const int g = num_devices / pp;
  for (size_t i = 0; i < layers; ++i) {
    const std::string at = "layer " + std::to_string(i) + ": ";
    if (!is_power_of_two(tp[i]) || g % tp[i] != 0) {
      r.fail("tp_sizes_enc", at + "tp " + std::to_string(tp[i]) +
                                 " is not a power of two dividing the " + std::to_string(g) +
                                 " devices of a stage");
    }
    if (use_sp[i] == 1 && tp[i] > 1) {
      r.fail("use_sp", at + "Ulysses sequence parallelism (use_sp = 1 with tp_sizes_enc " +
                           std::to_string(tp[i]) +
                           ") has no paratune equivalent; paratune's sp is Megatron sequence "
                           "parallel on tensor-parallel layers");
    }
  }
  if (g % vtp != 0) {
    r.fail("vtp", std::to_string(vtp) + " does not divide the " + std::to_string(g) +
                      " devices of a stage");
  }
  if (vsp == 1 && vtp > 1) {
    r.fail("vsp",
           "Ulysses sequence parallelism of the embedding (vsp = 1) has no paratune "
           "equivalent");
  }
  if (division.empty()) {  // Galvatron's default: even, remainder on the last stage
    const int avg = static_cast<int>(layers) / pp;
    if (avg < 1) {
      r.fail("pp_deg", std::to_string(pp) + " stages for " + std::to_string(layers) + " layers");
    } else {
      division.assign(pp - 1, avg);
      division.push_back(static_cast<int>(layers) - avg * (pp - 1));
    }
  } else {
    int sum = 0;
    for (int d : division) sum += d;
    if (static_cast<int>(division.size()) != pp || sum != static_cast<int>(layers)) {
      r.fail("pp_division", "\"" + join(division) + "\" must have pp_deg = " + std::to_string(pp) +
                                " entries summing to " + std::to_string(layers) + " layers");
    }
  }
  if (chunks == 0) r.fail("chunks", "must be >= 1 (or -1: automatic)");
  PARATUNE_RETURN_IF_ERROR(r.finish());

  Strategy s;
  s.num_devices = num_devices;
  s.pp = pp;
  s.pp_division = division;
  s.global_batch = global_bsz;
  if (chunks > 0) {
    s.micro_batches = chunks;
  } else {  // Galvatron's get_chunks(): ceil(local batch / 4) with pipelining, else 1
    const int local = global_bsz / g;
    s.micro_batches = pp > 1 ? std::max(1, (local + 3) / 4) : 1;
  }
  const DpType base = dp_type_from(default_dp);
  for (size_t i = 0; i < layers; ++i) {
    LayerStrategy ls;
    ls.tp = tp[i];
    ls.tp_consecutive = consec[i] == 1;
    ls.sp = seq_parallel && tp[i] > 1;
    ls.dp = g / tp[i];
    ls.dp_type = dp_types[i] == 1 ? DpType::kZero3 : base;
    ls.checkpoint = ckpt[i] == 1;
    s.layers.push_back(ls);
  }
  s.embedding.tp = vtp;
  s.embedding.tp_consecutive = true;
  s.embedding.sp = seq_parallel && vtp > 1;
  s.embedding.dp = g / vtp;
  s.embedding.dp_type = embed_sdp == 1 ? DpType::kZero3 : base;
  s.embedding.checkpoint = false;
  PARATUNE_RETURN_IF_ERROR(validate_structure(s, file));
  return s;
}

StatusOr<Strategy> load_strategy(const std::string& path, int num_devices,
                                 const StrategyImportOptions& options) {
  PARATUNE_ASSIGN_OR_RETURN(Json j, read_json_file(path));
  return import_strategy(j, path, num_devices, options);
}

StatusOr<Json> export_strategy(const Strategy& s) {
  const std::string what = "export to Galvatron";
  PARATUNE_RETURN_IF_ERROR(validate_structure(s, what));
  // Every LayerStrategy with its label: the layers, then the embedding.
  std::vector<std::pair<std::string, const LayerStrategy*>> all;
  for (size_t i = 0; i < s.layers.size(); ++i) {
    all.emplace_back("layers[" + std::to_string(i) + "]", &s.layers[i]);
  }
  all.emplace_back("embedding", &s.embedding);

  const std::string* ddp_user = nullptr;
  const std::string* zero2_user = nullptr;
  const std::string* sp_on = nullptr;
  const std::string* sp_off = nullptr;
  for (const auto& [label, ls] : all) {
    if (ls->dp > 1 && ls->dp_type == DpType::kDdp && !ddp_user) ddp_user = &label;
    if (ls->dp > 1 && ls->dp_type == DpType::kZero2 && !zero2_user) zero2_user = &label;
    if (ls->tp > 1 && ls->sp && !sp_on) sp_on = &label;
    if (ls->tp > 1 && !ls->sp && !sp_off) sp_off = &label;
  }
  if (ddp_user && zero2_user) {
    return InvalidArgument(what + ": " + *ddp_user + " uses ddp and " + *zero2_user +
                           " uses zero2; a Galvatron config has one default_dp_type besides "
                           "ZeRO-3, so it cannot express both");
  }
  if (sp_on && sp_off) {
    return InvalidArgument(what + ": " + *sp_on + " uses sequence parallel and " + *sp_off +
                           " does not; Galvatron's Megatron SP is one global flag");
  }
  if (s.embedding.tp > 1 && s.embedding.dp > 1 && !s.embedding.tp_consecutive) {
    return InvalidArgument(what +
                           ": embedding: Galvatron always puts the vocab-parallel "
                           "group on consecutive devices");
  }
  if (s.embedding.checkpoint) {
    return InvalidArgument(what +
                           ": embedding: a Galvatron config cannot checkpoint the "
                           "embedding / LM head");
  }
  const auto csv = [&](auto field) {
    std::string out;
    for (size_t i = 0; i < s.layers.size(); ++i) {
      out += (i ? "," : "") + std::to_string(field(s.layers[i]));
    }
    return out;
  };
  Json j;
  j["pp_deg"] = s.pp;
  j["tp_sizes_enc"] = csv([](const LayerStrategy& l) { return l.tp; });
  j["tp_consecutive_flags"] = csv([](const LayerStrategy& l) { return l.tp_consecutive ? 1 : 0; });
  j["dp_types_enc"] =
      csv([](const LayerStrategy& l) { return l.dp_type == DpType::kZero3 ? 1 : 0; });
  j["use_sp"] = csv([](const LayerStrategy&) { return 0; });
  j["checkpoint"] = csv([](const LayerStrategy& l) { return l.checkpoint ? 1 : 0; });
  j["global_bsz"] = s.global_batch;
  j["chunks"] = s.micro_batches;
  j["pp_division"] = join(s.pp_division);
  j["pipeline_type"] = "pipedream_flush";
  j["default_dp_type"] = zero2_user ? "zero2" : "ddp";
  j["vtp"] = s.embedding.tp;
  j["vsp"] = 0;
  j["embed_sdp"] = s.embedding.dp_type == DpType::kZero3 ? 1 : 0;
  j["sequence_parallel"] = sp_on ? 1 : 0;
  return j;
}

}  // namespace paratune::galvatron
