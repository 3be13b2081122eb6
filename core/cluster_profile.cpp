// cluster.json: reading, writing and checking a cluster profile.
//
// Format (every key required; key order as written by to_json):
//   { "format_version": 1, "name", "source": "measured"|"spec-sheet"|"galvatron-import", "note",
//     "device": { "name", "memory_bytes" (> 0), "flops_per_s" (>= 0, 0 = unknown),
//                 "memory_bandwidth_bytes_per_s" (>= 0, 0 = unknown),
//                 optional "runtime_buffer_bytes" (>= 0; absent = the estimator's default) },
//     "islands": [ { "name", "devices" (>= 1) } ... ]            (>= 1, all the same size),
//     "collectives": [ { "op": "allreduce"|"allgather"|"reduce_scatter"|"all2all",
//                        "group_size" (2 .. num_devices), "placement": "intra"|"inter",
//                        "consecutive", "latency_ms", "bus_bandwidth_bytes_per_s" (> 0),
//                        "samples": [ { "bytes", "time_ms" } ... ] } ... ],
//     "p2p": [ { "placement", "latency_ms", "bandwidth_bytes_per_s" (> 0),
//                optional "handoff_fraction" (>= 0; written when > 0), "samples" } ... ],
//     "overlap": { "compute_slowdown" (>= 1), "comm_slowdown" (>= 1) },
//     optional "host_sharing": { "ranks_per_host" (1 .. num_devices, divides it),
//                                "compute_slowdown" (>= 1), optional "call_cpu_ms" (>= 0,
//                                written when > 0), optional "cpus" (ranks_per_host CPU
//                                numbers >= 0, written when recorded) } }   (absent: no sharing; written
//                                only when ranks_per_host > 0, so older files keep their
//                                fingerprint),
//     optional "arrival_waits": [ { "group_size", "placement", "consecutive",
//                                   "samples": [ { "load_ms" (> 0, increasing), "wait_ms" (>= 0) }
//                                   ... ] (>= 1) } ... ]   (absent: none; written when measured)
// validate(): island names unique; an "intra" entry fits in one island (group_size <= devices
// per island); an "inter" entry needs >= 2 islands; no two collective entries with the same
// (op, group_size, placement, consecutive), no two p2p entries with the same placement.
//
// fingerprint(): FNV-1a 64 of the compact canonical dump without "name" and "note" (free text
// that does not change any cost), "c-" + 16 hex digits.
#include "core/cluster_profile.h"

#include <cinttypes>
#include <cstdio>
#include <set>
#include <tuple>

#include "core/model_config.h"  // fnv1a64

namespace paratune {

const char* to_string(CollectiveOp op) {
  switch (op) {
    case CollectiveOp::kAllReduce: return "allreduce";
    case CollectiveOp::kAllGather: return "allgather";
    case CollectiveOp::kReduceScatter: return "reduce_scatter";
    case CollectiveOp::kAllToAll: return "all2all";
  }
  return "?";
}

double algo_factor(CollectiveOp op, int n) {
  if (n <= 1) return 0.0;
  const double f = static_cast<double>(n - 1) / n;
  return op == CollectiveOp::kAllReduce ? 2.0 * f : f;
}

const char* to_string(Placement p) { return p == Placement::kIntraIsland ? "intra" : "inter"; }

bool DeviceSpec::operator==(const DeviceSpec& o) const {
  return name == o.name && memory == o.memory && flops == o.flops &&
         memory_bandwidth == o.memory_bandwidth && runtime_buffer == o.runtime_buffer;
}
bool CollectiveFit::operator==(const CollectiveFit& o) const {
  return op == o.op && group_size == o.group_size && placement == o.placement &&
         consecutive == o.consecutive && latency == o.latency &&
         bus_bandwidth == o.bus_bandwidth && samples == o.samples;
}
bool P2pFit::operator==(const P2pFit& o) const {
  return placement == o.placement && latency == o.latency && bandwidth == o.bandwidth &&
         handoff_fraction == o.handoff_fraction && samples == o.samples;
}

int ClusterProfile::num_devices() const {
  int n = 0;
  for (const Island& i : islands) n += i.devices;
  return n;
}

int ClusterProfile::devices_per_island() const {
  return islands.empty() ? 0 : islands.front().devices;
}

int ClusterProfile::island_of(Rank r) const {
  PARATUNE_CHECK_MSG(r >= 0 && r < num_devices(), "rank " + std::to_string(r) + " out of range");
  return r / devices_per_island();
}

bool ClusterProfile::operator==(const ClusterProfile& o) const {
  return name == o.name && source == o.source && note == o.note && device == o.device &&
         islands == o.islands && collectives == o.collectives && p2p == o.p2p &&
         overlap == o.overlap && host_sharing == o.host_sharing &&
         arrival_waits == o.arrival_waits;
}

namespace {

Status field_error(const std::string& file, const std::string& field, const std::string& what) {
  return InvalidArgument(file + ": field \"" + field + "\": " + what);
}

CollectiveOp parse_op(const std::string& s) {
  if (s == "allgather") return CollectiveOp::kAllGather;
  if (s == "reduce_scatter") return CollectiveOp::kReduceScatter;
  if (s == "all2all") return CollectiveOp::kAllToAll;
  return CollectiveOp::kAllReduce;
}
Placement parse_placement(const std::string& s) {
  return s == "inter" ? Placement::kInterIsland : Placement::kIntraIsland;
}

std::vector<CommSample> read_samples(ObjectReader& r) {
  std::vector<CommSample> out;
  for (ObjectReader& sr : r.objects("samples")) {
    CommSample s;
    s.bytes = Bytes(sr.number("bytes"));
    s.time = Milliseconds(sr.number("time_ms"));
    (void)sr.finish();
    out.push_back(s);
  }
  return out;
}

Json samples_json(const std::vector<CommSample>& v) {
  Json a = Json::array();
  for (const CommSample& s : v) {
    Json j;
    j["bytes"] = s.bytes.value;
    j["time_ms"] = s.time.value;
    a.push_back(std::move(j));
  }
  return a;
}

}  // namespace

Status validate(const ClusterProfile& c, const std::string& file) {
  if (c.islands.empty()) return field_error(file, "islands", "needs at least one island");
  std::set<std::string> names;
  for (size_t i = 0; i < c.islands.size(); ++i) {
    const std::string f = "islands[" + std::to_string(i) + "]";
    if (c.islands[i].devices < 1) {
      return field_error(file, f + ".devices",
                         "must be >= 1, got " + std::to_string(c.islands[i].devices));
    }
    if (c.islands[i].devices != c.islands[0].devices) {
      return field_error(file, f + ".devices",
                         "islands must all have the same device count (islands[0] has " +
                             std::to_string(c.islands[0].devices) + ", this one " +
                             std::to_string(c.islands[i].devices) + ")");
    }
    if (!names.insert(c.islands[i].name).second) {
      return field_error(file, f + ".name", "duplicate island name \"" + c.islands[i].name + "\"");
    }
  }
  if (!(c.device.memory.value > 0) || !is_finite(c.device.memory.value)) {
    return field_error(file, "device.memory_bytes", "must be finite and > 0");
  }
  if (!(c.device.flops.value >= 0) || !is_finite(c.device.flops.value)) {
    return field_error(file, "device.flops_per_s", "must be finite and >= 0");
  }
  if (!(c.device.memory_bandwidth.value >= 0) || !is_finite(c.device.memory_bandwidth.value)) {
    return field_error(file, "device.memory_bandwidth_bytes_per_s", "must be finite and >= 0");
  }
  const int n = c.num_devices();
  const int per_island = c.devices_per_island();
  auto check_placement = [&](const std::string& f, Placement p) -> Status {
    if (p == Placement::kInterIsland && c.islands.size() < 2) {
      return field_error(file, f, "\"inter\" needs at least two islands");
    }
    return Status::Ok();
  };
  std::set<std::tuple<int, int, int, bool>> seen;
  for (size_t i = 0; i < c.collectives.size(); ++i) {
    const CollectiveFit& cf = c.collectives[i];
    const std::string f = "collectives[" + std::to_string(i) + "]";
    if (cf.group_size < 2 || cf.group_size > n) {
      return field_error(file, f + ".group_size",
                         "must be in [2, num_devices = " + std::to_string(n) + "], got " +
                             std::to_string(cf.group_size));
    }
    if (cf.placement == Placement::kIntraIsland && cf.group_size > per_island) {
      return field_error(file, f + ".group_size",
                         "an \"intra\" group must fit in one island (" +
                             std::to_string(per_island) + " devices), got " +
                             std::to_string(cf.group_size));
    }
    PARATUNE_RETURN_IF_ERROR(check_placement(f + ".placement", cf.placement));
    if (!(cf.bus_bandwidth.value > 0) || !is_finite(cf.bus_bandwidth.value)) {
      return field_error(file, f + ".bus_bandwidth_bytes_per_s", "must be finite and > 0");
    }
    if (!(cf.latency.value >= 0) || !is_finite(cf.latency.value)) {
      return field_error(file, f + ".latency_ms", "must be finite and >= 0");
    }
    if (!seen.insert({static_cast<int>(cf.op), cf.group_size, static_cast<int>(cf.placement),
                      cf.consecutive})
             .second) {
      return field_error(file, f,
                         std::string("duplicate entry for ") + to_string(cf.op) + " group_size " +
                             std::to_string(cf.group_size) + " " + to_string(cf.placement) +
                             (cf.consecutive ? " consecutive" : " strided"));
    }
  }
  std::set<int> seen_p2p;
  for (size_t i = 0; i < c.p2p.size(); ++i) {
    const P2pFit& p = c.p2p[i];
    const std::string f = "p2p[" + std::to_string(i) + "]";
    PARATUNE_RETURN_IF_ERROR(check_placement(f + ".placement", p.placement));
    if (!(p.bandwidth.value > 0) || !is_finite(p.bandwidth.value)) {
      return field_error(file, f + ".bandwidth_bytes_per_s", "must be finite and > 0");
    }
    if (!(p.latency.value >= 0) || !is_finite(p.latency.value)) {
      return field_error(file, f + ".latency_ms", "must be finite and >= 0");
    }
    if (!(p.handoff_fraction >= 0) || !is_finite(p.handoff_fraction)) {
      return field_error(file, f + ".handoff_fraction", "must be finite and >= 0");
    }
    if (!seen_p2p.insert(static_cast<int>(p.placement)).second) {
      return field_error(file, f + ".placement",
                         std::string("duplicate entry for \"") + to_string(p.placement) + "\"");
    }
  }
  if (!(c.overlap.compute_slowdown >= 1.0) || !is_finite(c.overlap.compute_slowdown)) {
    return field_error(file, "overlap.compute_slowdown", "must be finite and >= 1");
  }
  if (!(c.overlap.comm_slowdown >= 1.0) || !is_finite(c.overlap.comm_slowdown)) {
    return field_error(file, "overlap.comm_slowdown", "must be finite and >= 1");
  }
  const HostSharing& h = c.host_sharing;
  if (h.ranks_per_host != 0) {
    const int n = c.num_devices();
    if (h.ranks_per_host < 1 || h.ranks_per_host > n || n % h.ranks_per_host != 0) {
      return field_error(file, "host_sharing.ranks_per_host",
                         "must divide the " + std::to_string(n) + " devices");
    }
    if (!(h.compute_slowdown >= 1.0) || !is_finite(h.compute_slowdown)) {
      return field_error(file, "host_sharing.compute_slowdown", "must be finite and >= 1");
    }
    if (!(h.call_cpu_ms >= 0.0) || !is_finite(h.call_cpu_ms)) {
      return field_error(file, "host_sharing.call_cpu_ms", "must be finite and >= 0");
    }
    if (!h.cpus.empty() && static_cast<int>(h.cpus.size()) != h.ranks_per_host) {
      return field_error(file, "host_sharing.cpus",
                         "has " + std::to_string(h.cpus.size()) +
                             " entries, needs one per rank of a host (ranks_per_host = " +
                             std::to_string(h.ranks_per_host) + ")");
    }
    for (int cpu : h.cpus)
      if (cpu < 0) return field_error(file, "host_sharing.cpus", "CPU numbers must be >= 0");
  }
  std::set<std::tuple<int, int, bool>> seen_wait;
  for (size_t i = 0; i < c.arrival_waits.size(); ++i) {
    const ArrivalWait& w = c.arrival_waits[i];
    const std::string f = "arrival_waits[" + std::to_string(i) + "]";
    if (w.group_size < 2 || w.group_size > c.num_devices()) {
      return field_error(file, f + ".group_size",
                         "must be in [2, num_devices = " + std::to_string(c.num_devices()) + "]");
    }
    if (w.samples.empty()) return field_error(file, f + ".samples", "needs at least one sample");
    for (size_t k = 0; k < w.samples.size(); ++k) {
      const std::string sf = f + ".samples[" + std::to_string(k) + "]";
      const WaitSample& x = w.samples[k];
      if (!(x.load.value > 0) || !is_finite(x.load.value) ||
          (k > 0 && !(x.load.value > w.samples[k - 1].load.value))) {
        return field_error(file, sf + ".load_ms", "must be finite, > 0 and increasing");
      }
      if (!(x.wait.value >= 0) || !is_finite(x.wait.value))
        return field_error(file, sf + ".wait_ms", "must be finite and >= 0");
    }
    if (!seen_wait.insert({w.group_size, static_cast<int>(w.placement), w.consecutive}).second)
      return field_error(file, f, "duplicate entry for group_size " + std::to_string(w.group_size));
  }
  return Status::Ok();
}

StatusOr<ClusterProfile> cluster_profile_from_json(const Json& j, const std::string& file) {
  ObjectReader r(j, file);
  ClusterProfile c;
  r.format_version(ClusterProfile::kFormatVersion);
  c.name = r.string("name");
  c.source = r.enumeration("source", {"measured", "spec-sheet", "galvatron-import"});
  c.note = r.string("note");
  {
    ObjectReader d = r.object("device");
    c.device.name = d.string("name");
    c.device.memory = Bytes(d.number("memory_bytes"));
    c.device.flops = FlopsPerSecond(d.number("flops_per_s"));
    c.device.memory_bandwidth = BytesPerSecond(d.number("memory_bandwidth_bytes_per_s"));
    if (d.has("runtime_buffer_bytes")) c.device.runtime_buffer = Bytes(d.number("runtime_buffer_bytes"));
    (void)d.finish();
  }
  for (ObjectReader& ir : r.objects("islands", 1)) {
    Island is;
    is.name = ir.string("name");
    is.devices = static_cast<int>(ir.integer("devices", 1, 1 << 30));
    (void)ir.finish();
    c.islands.push_back(is);
  }
  const std::vector<std::string> ops = {"allreduce", "allgather", "reduce_scatter", "all2all"};
  const std::vector<std::string> placements = {"intra", "inter"};
  for (ObjectReader& cr : r.objects("collectives")) {
    CollectiveFit f;
    f.op = parse_op(cr.enumeration("op", ops));
    f.group_size = static_cast<int>(cr.integer("group_size", 2, 1 << 30));
    f.placement = parse_placement(cr.enumeration("placement", placements));
    f.consecutive = cr.boolean("consecutive");
    f.latency = Milliseconds(cr.number("latency_ms"));
    f.bus_bandwidth = BytesPerSecond(cr.number("bus_bandwidth_bytes_per_s"));
    f.samples = read_samples(cr);
    (void)cr.finish();
    c.collectives.push_back(std::move(f));
  }
  for (ObjectReader& pr : r.objects("p2p")) {
    P2pFit p;
    p.placement = parse_placement(pr.enumeration("placement", placements));
    p.latency = Milliseconds(pr.number("latency_ms"));
    p.bandwidth = BytesPerSecond(pr.number("bandwidth_bytes_per_s"));
    if (pr.has("handoff_fraction")) p.handoff_fraction = pr.number("handoff_fraction");
    p.samples = read_samples(pr);
    (void)pr.finish();
    c.p2p.push_back(std::move(p));
  }
  {
    ObjectReader o = r.object("overlap");
    c.overlap.compute_slowdown = o.number("compute_slowdown", 1.0);
    c.overlap.comm_slowdown = o.number("comm_slowdown", 1.0);
    (void)o.finish();
  }
  if (r.has("host_sharing")) {
    ObjectReader h = r.object("host_sharing");
    c.host_sharing.ranks_per_host = static_cast<int>(h.integer("ranks_per_host", 1, 1 << 30));
    c.host_sharing.compute_slowdown = h.number("compute_slowdown", 1.0);
    c.host_sharing.call_cpu_ms = h.number_or("call_cpu_ms", 0.0, 0.0);
    if (h.has("cpus"))
      for (int64_t cpu : h.integers("cpus", 0)) c.host_sharing.cpus.push_back(int(cpu));
    (void)h.finish();
  }
  if (r.has("arrival_waits")) {
    for (ObjectReader& wr : r.objects("arrival_waits")) {
      ArrivalWait w;
      w.group_size = static_cast<int>(wr.integer("group_size", 2, 1 << 30));
      w.placement = parse_placement(wr.enumeration("placement", placements));
      w.consecutive = wr.boolean("consecutive");
      for (ObjectReader& sr : wr.objects("samples", 1)) {
        WaitSample x;
        x.load = Milliseconds(sr.number("load_ms"));
        x.wait = Milliseconds(sr.number("wait_ms"));
        (void)sr.finish();
        w.samples.push_back(x);
      }
      (void)wr.finish();
      c.arrival_waits.push_back(std::move(w));
    }
  }
  PARATUNE_RETURN_IF_ERROR(r.finish());
  PARATUNE_RETURN_IF_ERROR(validate(c, file));
  return c;
}

StatusOr<ClusterProfile> load_cluster_profile(const std::string& path) {
  PARATUNE_ASSIGN_OR_RETURN(Json j, read_json_file(path));
  return cluster_profile_from_json(j, path);
}

Json to_json(const ClusterProfile& c) {
  Json j;
  j["format_version"] = ClusterProfile::kFormatVersion;
  j["name"] = c.name;
  j["source"] = c.source;
  j["note"] = c.note;
  Json d;
  d["name"] = c.device.name;
  d["memory_bytes"] = c.device.memory.value;
  d["flops_per_s"] = c.device.flops.value;
  d["memory_bandwidth_bytes_per_s"] = c.device.memory_bandwidth.value;
  if (c.device.runtime_buffer) d["runtime_buffer_bytes"] = c.device.runtime_buffer->value;
  j["device"] = std::move(d);
  Json islands = Json::array();
  for (const Island& i : c.islands) {
    Json ij;
    ij["name"] = i.name;
    ij["devices"] = i.devices;
    islands.push_back(std::move(ij));
  }
  j["islands"] = std::move(islands);
  Json cols = Json::array();
  for (const CollectiveFit& f : c.collectives) {
    Json fj;
    fj["op"] = to_string(f.op);
    fj["group_size"] = f.group_size;
    fj["placement"] = to_string(f.placement);
    fj["consecutive"] = f.consecutive;
    fj["latency_ms"] = f.latency.value;
    fj["bus_bandwidth_bytes_per_s"] = f.bus_bandwidth.value;
    fj["samples"] = samples_json(f.samples);
    cols.push_back(std::move(fj));
  }
  j["collectives"] = std::move(cols);
  Json p2p = Json::array();
  for (const P2pFit& p : c.p2p) {
    Json pj;
    pj["placement"] = to_string(p.placement);
    pj["latency_ms"] = p.latency.value;
    pj["bandwidth_bytes_per_s"] = p.bandwidth.value;
    if (p.handoff_fraction > 0) pj["handoff_fraction"] = p.handoff_fraction;
    pj["samples"] = samples_json(p.samples);
    p2p.push_back(std::move(pj));
  }
  j["p2p"] = std::move(p2p);
  Json o;
  o["compute_slowdown"] = c.overlap.compute_slowdown;
  o["comm_slowdown"] = c.overlap.comm_slowdown;
  j["overlap"] = std::move(o);
  if (c.host_sharing.ranks_per_host > 0) {
    Json h;
    h["ranks_per_host"] = c.host_sharing.ranks_per_host;
    h["compute_slowdown"] = c.host_sharing.compute_slowdown;
    if (c.host_sharing.call_cpu_ms > 0) h["call_cpu_ms"] = c.host_sharing.call_cpu_ms;
    if (!c.host_sharing.cpus.empty()) h["cpus"] = c.host_sharing.cpus;
    j["host_sharing"] = std::move(h);
  }
  if (!c.arrival_waits.empty()) {
    Json waits = Json::array();
    for (const ArrivalWait& w : c.arrival_waits) {
      Json wj;
      wj["group_size"] = w.group_size;
      wj["placement"] = to_string(w.placement);
      wj["consecutive"] = w.consecutive;
      Json samples = Json::array();
      for (const WaitSample& x : w.samples) {
        Json sj;
        sj["load_ms"] = x.load.value;
        sj["wait_ms"] = x.wait.value;
        samples.push_back(std::move(sj));
      }
      wj["samples"] = std::move(samples);
      waits.push_back(std::move(wj));
    }
    j["arrival_waits"] = std::move(waits);
  }
  return j;
}

std::string fingerprint(const ClusterProfile& c) {
  Json j = to_json(c);
  j.erase("name");
  j.erase("note");
  char buf[24];
  std::snprintf(buf, sizeof buf, "c-%016" PRIx64, fnv1a64(j.dump()));
  return buf;
}

}  // namespace paratune
