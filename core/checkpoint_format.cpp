#include "core/checkpoint_format.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/crc32.h"

namespace paratune {

namespace fs = std::filesystem;

bool PieceInfo::operator==(const PieceInfo& o) const {
  return unit == o.unit && param == o.param && full_shape == o.full_shape &&
         split_dim == o.split_dim && tp == o.tp && tp_rank == o.tp_rank && begin == o.begin &&
         end == o.end && offset == o.offset;
}

bool ShardIndex::operator==(const ShardIndex& o) const {
  return rank == o.rank && step == o.step && data_file == o.data_file &&
         data_bytes == o.data_bytes && block_bytes == o.block_bytes &&
         block_crc32 == o.block_crc32 && rng_offset == o.rng_offset && rng_bytes == o.rng_bytes &&
         pieces == o.pieces;
}

bool ShardEntry::operator==(const ShardEntry& o) const {
  return rank == o.rank && index_file == o.index_file && index_bytes == o.index_bytes &&
         index_crc32 == o.index_crc32 && data_file == o.data_file && data_bytes == o.data_bytes;
}

bool AdamHyper::operator==(const AdamHyper& o) const {
  return lr == o.lr && beta1 == o.beta1 && beta2 == o.beta2 && eps == o.eps &&
         max_grad_norm == o.max_grad_norm;
}

bool CheckpointManifest::operator==(const CheckpointManifest& o) const {
  return step == o.step && world_size == o.world_size && seed == o.seed && data == o.data &&
         data_seed == o.data_seed && adam == o.adam && model == o.model && strategy == o.strategy &&
         shards == o.shards;
}

namespace {
std::string numbered(const char* prefix, int64_t n, int width, const char* suffix) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%0*lld%s", prefix, width, static_cast<long long>(n), suffix);
  return buf;
}
constexpr int64_t kMaxElements = int64_t(1) << 48;  // per tensor; keeps byte offsets in int64
constexpr int64_t kMaxBytes = int64_t(1) << 56;
constexpr int kMaxDims = 8;
constexpr int64_t kMaxTp = 1 << 20;
}  // namespace

std::string step_dir_name(int64_t step) {
  return numbered("step-", step, 8, "");
}
std::string shard_data_name(Rank r) {
  return numbered("rank-", r, 5, ".bin");
}
std::string shard_index_name(Rank r) {
  return numbered("rank-", r, 5, ".json");
}

Json to_json(const PieceInfo& p) {
  Json j;
  j["unit"] = p.unit;
  j["param"] = p.param;
  j["full_shape"] = p.full_shape;
  j["split_dim"] = p.split_dim;
  j["tp"] = p.tp;
  j["tp_rank"] = p.tp_rank;
  j["begin"] = p.begin;
  j["end"] = p.end;
  j["offset"] = p.offset;
  return j;
}

Json to_json(const ShardIndex& s) {
  Json j;
  j["format"] = kShardFormat;
  j["format_version"] = ShardIndex::kFormatVersion;
  j["rank"] = s.rank;
  j["step"] = s.step;
  j["data"] = s.data_file;
  j["data_bytes"] = s.data_bytes;
  j["block_bytes"] = s.block_bytes;
  j["block_crc32"] = s.block_crc32;
  j["rng"] = {{"offset", s.rng_offset}, {"bytes", s.rng_bytes}};
  Json pieces = Json::array();
  for (const PieceInfo& p : s.pieces) pieces.push_back(to_json(p));
  j["pieces"] = pieces;
  return j;
}

Json to_json(const CheckpointManifest& m) {
  Json j;
  j["format"] = kManifestFormat;
  j["format_version"] = CheckpointManifest::kFormatVersion;
  j["step"] = m.step;
  j["world_size"] = m.world_size;
  j["seed"] = m.seed;
  j["data"] = m.data;
  j["data_seed"] = m.data_seed;
  j["adam"] = {{"lr", m.adam.lr},
               {"beta1", m.adam.beta1},
               {"beta2", m.adam.beta2},
               {"eps", m.adam.eps},
               {"max_grad_norm", m.adam.max_grad_norm}};
  j["model"] = to_json(m.model);
  j["strategy"] = to_json(m.strategy);
  Json shards = Json::array();
  for (const ShardEntry& e : m.shards) {
    shards.push_back({{"rank", e.rank},
                      {"index", e.index_file},
                      {"index_bytes", e.index_bytes},
                      {"index_crc32", e.index_crc32},
                      {"data", e.data_file},
                      {"data_bytes", e.data_bytes}});
  }
  j["shards"] = shards;
  return j;
}

namespace {

void read_format(ObjectReader& r, const char* expected, int version) {
  if (r.ok() && !r.has("format")) {
    r.fail("format",
           std::string("missing (not a paratune checkpoint file: expected \"") + expected + "\")");
    return;
  }
  const std::string f = r.string("format");
  if (r.ok() && f != expected) {
    r.fail("format", std::string("expected \"") + expected + "\", got \"" + f +
                         "\" (not a paratune checkpoint file)");
  }
  if (r.ok()) r.format_version(version);
}

PieceInfo read_piece(ObjectReader& p, int64_t data_bytes) {
  PieceInfo x;
  x.unit = p.string("unit");
  x.param = p.string("param");
  if (p.ok() && x.unit.empty()) p.fail("unit", "must not be empty");
  if (p.ok() && x.param.empty()) p.fail("param", "must not be empty");
  x.full_shape = p.integers("full_shape", 1);
  int64_t numel = 1;
  if (p.ok()) {
    if (x.full_shape.empty() || int(x.full_shape.size()) > kMaxDims) {
      p.fail("full_shape", "needs 1 to " + std::to_string(kMaxDims) + " dimensions, got " +
                               std::to_string(x.full_shape.size()));
    }
    for (int64_t d : x.full_shape) {
      if (!p.ok()) break;
      if (d > kMaxElements / numel)
        p.fail("full_shape", "has more than 2^48 elements");
      else
        numel *= d;
    }
  }
  x.split_dim = int(p.integer("split_dim", -1, kMaxDims - 1));
  x.tp = int(p.integer("tp", 1, kMaxTp));
  x.tp_rank = int(p.integer("tp_rank", 0, kMaxTp));
  x.begin = p.integer("begin", 0, kMaxElements);
  x.end = p.integer("end", 0, kMaxElements);
  x.offset = p.integer("offset", 0, kMaxBytes);
  if (!p.ok()) return x;
  if (x.split_dim >= int(x.full_shape.size())) {
    p.fail("split_dim",
           "must be < the number of dimensions (" + std::to_string(x.full_shape.size()) + ")");
  } else if (x.split_dim < 0 && (x.tp != 1 || x.tp_rank != 0)) {
    p.fail("tp", "a replicated tensor (split_dim -1) has tp 1 and tp_rank 0");
  } else if (x.split_dim >= 0 && x.full_shape[x.split_dim] % x.tp != 0) {
    p.fail("tp", "must divide full_shape[" + std::to_string(x.split_dim) +
                     "] = " + std::to_string(x.full_shape[x.split_dim]));
  } else if (x.tp_rank >= x.tp) {
    p.fail("tp_rank", "must be < tp (" + std::to_string(x.tp) + ")");
  } else if (x.end <= x.begin) {
    p.fail("end", "must be > begin (" + std::to_string(x.begin) + ")");
  } else if (x.end > numel / x.tp) {
    p.fail("end", "must be <= the slice's element count (" + std::to_string(numel / x.tp) + ")");
  } else if (x.offset % 4 != 0) {
    p.fail("offset", "must be a multiple of 4");
  } else if (x.offset > data_bytes || 12 * x.numel() > data_bytes - x.offset) {
    p.fail("offset", "the piece's " + std::to_string(12 * x.numel()) + " bytes at offset " +
                         std::to_string(x.offset) + " exceed data_bytes (" +
                         std::to_string(data_bytes) + ")");
  }
  return x;
}

}  // namespace

StatusOr<ShardIndex> shard_index_from_json(const Json& j, const std::string& file) {
  ObjectReader r(j, file);
  read_format(r, kShardFormat, ShardIndex::kFormatVersion);
  ShardIndex s;
  s.rank = Rank(r.integer("rank", 0, kMaxTp));
  s.step = r.integer("step", 0);
  s.data_file = r.string("data");
  s.data_bytes = r.integer("data_bytes", 0, kMaxBytes);
  s.block_bytes = r.integer("block_bytes", 1, int64_t(1) << 30);
  const std::vector<int64_t> crcs = r.integers("block_crc32", 0);
  ObjectReader rng = r.object("rng");
  s.rng_offset = rng.integer("offset", 0, kMaxBytes);
  s.rng_bytes = rng.integer("bytes", 0, kMaxBytes);
  PARATUNE_RETURN_IF_ERROR(rng.finish());
  if (r.ok() && s.data_file != shard_data_name(s.rank)) {
    r.fail("data", "must be \"" + shard_data_name(s.rank) + "\", got \"" + s.data_file + "\"");
  }
  if (r.ok()) {
    const int64_t blocks = s.data_bytes / s.block_bytes + (s.data_bytes % s.block_bytes != 0);
    if (int64_t(crcs.size()) != blocks) {
      r.fail("block_crc32", "needs " + std::to_string(blocks) + " entries (data_bytes / " +
                                "block_bytes, rounded up), got " + std::to_string(crcs.size()));
    }
    for (size_t i = 0; i < crcs.size() && r.ok(); ++i) {
      if (crcs[i] > 0xffffffffLL)
        r.fail("block_crc32[" + std::to_string(i) + "]", "must be a 32-bit value");
      s.block_crc32.push_back(uint32_t(crcs[i]));
    }
  }
  if (r.ok() && (s.rng_offset > s.data_bytes || s.rng_bytes > s.data_bytes - s.rng_offset)) {
    r.fail("rng", "offset + bytes exceed data_bytes (" + std::to_string(s.data_bytes) + ")");
  }
  if (r.ok()) {
    for (ObjectReader& p : r.objects("pieces")) {
      s.pieces.push_back(read_piece(p, s.data_bytes));
      PARATUNE_RETURN_IF_ERROR(p.finish());
    }
  }
  PARATUNE_RETURN_IF_ERROR(r.finish());
  return s;
}

StatusOr<CheckpointManifest> manifest_from_json(const Json& j, const std::string& file) {
  ObjectReader r(j, file);
  read_format(r, kManifestFormat, CheckpointManifest::kFormatVersion);
  CheckpointManifest m;
  m.step = r.integer("step", 0);
  m.world_size = int(r.integer("world_size", 1, kMaxTp));
  m.seed = r.integer("seed", 0);
  m.data = r.string("data");
  m.data_seed = r.integer("data_seed", 0);
  ObjectReader a = r.object("adam");
  m.adam.lr = a.number("lr");
  m.adam.beta1 = a.number("beta1", 0.0, 1.0);
  m.adam.beta2 = a.number("beta2", 0.0, 1.0);
  m.adam.eps = a.number("eps");
  m.adam.max_grad_norm = a.number("max_grad_norm", -std::numeric_limits<double>::max());
  PARATUNE_RETURN_IF_ERROR(a.finish());
  const Json& model = r.raw("model");
  const Json& strategy = r.raw("strategy");
  std::vector<ObjectReader> shards = r.objects("shards", 1);
  if (r.ok() && int(shards.size()) != m.world_size) {
    r.fail("shards", "needs world_size (" + std::to_string(m.world_size) + ") entries, got " +
                         std::to_string(shards.size()));
  }
  for (size_t i = 0; i < shards.size() && r.ok(); ++i) {
    ObjectReader& e = shards[i];
    ShardEntry x;
    x.rank = Rank(e.integer("rank", 0, kMaxTp));
    x.index_file = e.string("index");
    x.index_bytes = e.integer("index_bytes", 1, int64_t(1) << 34);
    x.index_crc32 = uint32_t(e.integer("index_crc32", 0, 0xffffffffLL));
    x.data_file = e.string("data");
    x.data_bytes = e.integer("data_bytes", 0, kMaxBytes);
    if (e.ok() && x.rank != Rank(i))
      e.fail("rank", "must be " + std::to_string(i) + " (rank order)");
    if (e.ok() && x.index_file != shard_index_name(x.rank))
      e.fail("index", "must be \"" + shard_index_name(x.rank) + "\", got \"" + x.index_file + "\"");
    if (e.ok() && x.data_file != shard_data_name(x.rank))
      e.fail("data", "must be \"" + shard_data_name(x.rank) + "\", got \"" + x.data_file + "\"");
    PARATUNE_RETURN_IF_ERROR(e.finish());
    m.shards.push_back(x);
  }
  PARATUNE_RETURN_IF_ERROR(r.finish());
  const std::string mfile = file + ": field \"model\"";
  PARATUNE_ASSIGN_OR_RETURN(m.model, model_config_from_json(model, mfile));
  const std::string sfile = file + ": field \"strategy\"";
  PARATUNE_ASSIGN_OR_RETURN(m.strategy, strategy_from_json(strategy, sfile));
  PARATUNE_RETURN_IF_ERROR(validate(m.strategy, m.model, sfile));
  if (m.strategy.num_devices != m.world_size) {
    return InvalidArgument(sfile +
                           ": field \"num_devices\": " + std::to_string(m.strategy.num_devices) +
                           " differs from world_size " + std::to_string(m.world_size));
  }
  return m;
}

StatusOr<ShardIndex> load_shard_index(const std::string& path) {
  PARATUNE_ASSIGN_OR_RETURN(Json j, read_json_file(path));
  return shard_index_from_json(j, path);
}

StatusOr<CheckpointManifest> load_manifest(const std::string& path) {
  PARATUNE_ASSIGN_OR_RETURN(Json j, read_json_file(path));
  return manifest_from_json(j, path);
}

namespace {

bool parse_step_dir(const std::string& name, int64_t* step) {
  if (name.size() != 13 || name.compare(0, 5, "step-") != 0) return false;
  int64_t v = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + (name[i] - '0');
  }
  *step = v;
  return true;
}

StatusOr<std::string> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

StatusOr<std::string> locate_checkpoint(const std::string& path,
                                        std::vector<std::string>* skipped) {
  std::error_code ec;
  if (fs::exists(fs::path(path) / kManifestFile, ec)) return path;
  if (!fs::is_directory(path, ec)) return NotFound(path + ": no such checkpoint directory");
  std::vector<std::pair<int64_t, std::string>> steps;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    int64_t st = 0;
    if (e.is_directory(ec) && parse_step_dir(e.path().filename().string(), &st))
      steps.push_back({st, e.path().string()});
  }
  std::sort(steps.rbegin(), steps.rend());
  // The last completed save, when `latest` names one (a run resumed from an older checkpoint
  // may leave newer folders of its abandoned trajectory behind).
  int64_t latest = -1;
  {
    std::ifstream in(fs::path(path) / kLatestFile);
    std::string name;
    int64_t st = 0;
    if (in >> name && parse_step_dir(name, &st) &&
        fs::exists(fs::path(path) / name / kManifestFile, ec))
      latest = st;
  }
  for (const auto& [st, dir] : steps) {
    if (latest >= 0 ? st == latest : fs::exists(fs::path(dir) / kManifestFile, ec)) return dir;
    if (skipped && !fs::exists(fs::path(dir) / kManifestFile, ec)) skipped->push_back(dir);
  }
  return NotFound(path + ": no complete checkpoint (no " + kManifestFile +
                  " in it or in any step-* folder" +
                  (steps.empty() ? std::string() : "; incomplete saves were skipped") + ")");
}

StatusOr<OpenCheckpoint> open_checkpoint(const std::string& path,
                                         std::vector<std::string>* skipped) {
  OpenCheckpoint c;
  PARATUNE_ASSIGN_OR_RETURN(c.dir, locate_checkpoint(path, skipped));
  const std::string mpath = c.dir + "/" + kManifestFile;
  PARATUNE_ASSIGN_OR_RETURN(c.manifest, load_manifest(mpath));
  for (const ShardEntry& e : c.manifest.shards) {
    const std::string field = mpath + ": field \"shards[" + std::to_string(e.rank) + "].";
    const std::string ipath = c.dir + "/" + e.index_file;
    PARATUNE_ASSIGN_OR_RETURN(std::string bytes, read_bytes(ipath));
    if (int64_t(bytes.size()) != e.index_bytes) {
      return InvalidArgument(ipath + ": file is " + std::to_string(bytes.size()) + " bytes but " +
                             field + "index_bytes\" says " + std::to_string(e.index_bytes) +
                             " (truncated or replaced)");
    }
    const uint32_t crc = crc32_update(0, bytes.data(), bytes.size());
    if (crc != e.index_crc32) {
      return InvalidArgument(ipath + ": checksum mismatch: CRC-32 " + std::to_string(crc) + ", " +
                             field + "index_crc32\" says " + std::to_string(e.index_crc32) +
                             " (corrupt or replaced)");
    }
    Json j;
    try {
      j = Json::parse(bytes);
    } catch (const std::exception& ex) {
      return InvalidArgument(ipath + ": malformed JSON: " + ex.what());
    }
    PARATUNE_ASSIGN_OR_RETURN(ShardIndex s, shard_index_from_json(j, ipath));
    auto mismatch = [&](const char* key, const std::string& got, const std::string& want) {
      return InvalidArgument(ipath + ": field \"" + key + "\": " + got + " differs from " + want +
                             " in " + mpath);
    };
    if (s.rank != e.rank) return mismatch("rank", std::to_string(s.rank), std::to_string(e.rank));
    if (s.step != c.manifest.step)
      return mismatch("step", std::to_string(s.step), std::to_string(c.manifest.step));
    if (s.data_bytes != e.data_bytes)
      return mismatch("data_bytes", std::to_string(s.data_bytes), std::to_string(e.data_bytes));
    const std::string dpath = c.dir + "/" + e.data_file;
    std::error_code ec;
    const auto size = fs::file_size(dpath, ec);
    if (ec) return NotFound(dpath + ": cannot read the shard data file: " + ec.message());
    if (int64_t(size) != s.data_bytes) {
      return InvalidArgument(dpath + ": file is " + std::to_string(size) + " bytes but " + ipath +
                             ": field \"data_bytes\" says " + std::to_string(s.data_bytes) +
                             " (truncated or replaced)");
    }
    c.indices.push_back(std::move(s));
  }
  return c;
}

Status check_same_model(const OpenCheckpoint& c, const ModelConfig& m,
                        const std::string& model_file) {
  Json a = to_json(c.manifest.model), b = to_json(m);
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (it.key() == "name") continue;
    const Json& other = b.contains(it.key()) ? b[it.key()] : Json();
    if (it.value() != other) {
      return InvalidArgument(c.dir + "/" + kManifestFile + ": field \"model." + it.key() +
                             "\": the checkpoint was written for " + it.value().dump() + " but " +
                             model_file + " has " + other.dump() + " (a different model)");
    }
  }
  return Status::Ok();
}

}  // namespace paratune
