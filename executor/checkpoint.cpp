#include "executor/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>

#include "core/checkpoint_io.h"
#include "core/checkpoint_layout.h"
#include "core/crc32.h"

namespace paratune::executor {

namespace fs = std::filesystem;

Status CheckpointOptions::validate() const {
  if (block_bytes < 4 || block_bytes > (int64_t(1) << 30))
    return InvalidArgument("checkpoint block_bytes must be in [4, 2^30], got " +
                           std::to_string(block_bytes));
  if (keep < 0) return InvalidArgument("checkpoint keep must be >= 0");
  return Status::Ok();
}

namespace {

[[noreturn]] void die_by_sigkill() {
  std::raise(SIGKILL);
  std::abort();
}

/// World-wide AND of `ok`; when false somewhere, this rank's error or a message naming the
/// lowest failing rank.
Status agree(Comms& comms, const Status& mine, const std::string& what) {
  at::Tensor flags = at::zeros({comms.world_size()}, at::kLong);
  if (!mine.ok()) flags[comms.rank()] = 1;
  comms.world().allreduce_(flags);
  if (!mine.ok()) return mine;
  for (int r = 0; r < comms.world_size(); ++r)
    if (flags[r].item<int64_t>()) {
      return Internal(what + " failed on rank " + std::to_string(r) + " (see its message)");
    }
  return Status::Ok();
}

at::Tensor rng_state() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state().contiguous();
}

struct ShardWrite {
  Status status;
  int64_t data_bytes = 0, index_bytes = 0;
  uint32_t index_crc = 0;
};

ShardWrite write_shard(const std::string& dir, Trainer& t, Rank me, const CheckpointOptions& o) {
  ShardWrite out;
  ShardIndex idx;
  idx.rank = me;
  idx.step = t.steps_done();
  idx.data_file = shard_data_name(me);
  idx.block_bytes = o.block_bytes;
  BlockWriter w(dir + "/" + idx.data_file, o.block_bytes);
  // Pieces first (what every rank owns), so the fault hook can stop half-way.
  struct Pending {
    PieceInfo info;
    const float *p, *m, *v;
  };
  std::vector<Pending> pending;
  std::vector<ShardedUnit::State> states;  // keep tensors alive
  for (const auto& up : t.units()) {
    ShardedUnit& u = *up;
    if (!u.primary()) continue;
    states.push_back(u.state());
    const ShardedUnit::State& st = states.back();
    const int tp = u.tp().size(), tpi = u.tp().index();
    const int64_t s0 = u.shard_begin(), s1 = std::min(u.numel(), s0 + u.shard_size());
    for (size_t i = 0; i < u.specs().size(); ++i) {
      const models::ParamSpec& spec = u.specs()[i];
      if (spec.tp_replicated() && tpi != 0) continue;
      const int64_t off = u.offset(i), n = spec.local_numel(tp);
      const int64_t lo = std::max(s0, off), hi = std::min(s1, off + n);
      if (lo >= hi) continue;
      PieceInfo p;
      p.unit = u.name();
      p.param = spec.name;
      p.full_shape = spec.full_shape;
      p.split_dim = spec.split_dim;
      p.tp = spec.tp_replicated() ? 1 : tp;
      p.tp_rank = spec.tp_replicated() ? 0 : tpi;
      p.begin = lo - off;
      p.end = hi - off;
      pending.push_back({p, st.params.data_ptr<float>() + (lo - st.params_begin),
                         st.m.data_ptr<float>() + (lo - st.optim_begin),
                         st.v.data_ptr<float>() + (lo - st.optim_begin)});
    }
  }
  const bool fault_here = o.fault.phase == SaveFault::Phase::kShardWrite &&
                          o.fault.step == idx.step && o.fault.rank == me;
  for (size_t k = 0; k < pending.size(); ++k) {
    if (fault_here && k == pending.size() / 2) {
      (void)w.flush_buffer();
      die_by_sigkill();
    }
    Pending& pd = pending[k];
    pd.info.offset = w.offset();
    const int64_t bytes = pd.info.numel() * int64_t(sizeof(float));
    out.status = w.append(pd.p, bytes);
    if (out.status.ok()) out.status = w.append(pd.m, bytes);
    if (out.status.ok()) out.status = w.append(pd.v, bytes);
    if (!out.status.ok()) return out;
    idx.pieces.push_back(pd.info);
  }
  at::Tensor rng = rng_state();
  idx.rng_offset = w.offset();
  idx.rng_bytes = rng.numel() * rng.element_size();
  out.status = w.append(rng.data_ptr(), idx.rng_bytes);
  if (out.status.ok()) out.status = w.commit();
  if (!out.status.ok()) return out;
  idx.data_bytes = w.offset();
  idx.block_crc32 = w.block_crc32();
  const std::string text = dump_json(to_json(idx));
  out.status = write_file_durable(dir + "/" + shard_index_name(me), text);
  out.data_bytes = idx.data_bytes;
  out.index_bytes = int64_t(text.size());
  out.index_crc = crc32_update(0, text.data(), text.size());
  return out;
}

// Deletes complete checkpoints older than the `keep` newest up to `step` (the one just
// written) and interrupted saves older than `step`. Folders of higher steps (left by a run this
// one resumed from an older checkpoint of) are not touched; `latest` no longer names them.
void prune(const std::string& save_dir, int64_t step, int keep) {
  std::error_code ec;
  std::vector<std::pair<int64_t, fs::path>> complete, partial;
  for (const auto& e : fs::directory_iterator(save_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() != 13 || name.rfind("step-", 0) != 0) continue;
    if (name.find_first_not_of("0123456789", 5) != std::string::npos) continue;
    const int64_t st = std::stoll(name.substr(5));
    if (st > step) continue;
    (fs::exists(e.path() / kManifestFile, ec) ? complete : partial).push_back({st, e.path()});
  }
  std::sort(complete.rbegin(), complete.rend());
  for (size_t i = 0; keep > 0 && i < complete.size(); ++i)
    if (int(i) >= keep && complete[i].first != step) fs::remove_all(complete[i].second, ec);
  for (const auto& [st, p] : partial)
    if (st < step) fs::remove_all(p, ec);
}

}  // namespace

Status save_checkpoint(const std::string& save_dir, Trainer& t, Comms& comms, const RunInfo& info,
                       const CheckpointOptions& o) {
  PARATUNE_RETURN_IF_ERROR(o.validate());
  const Rank me = comms.rank();
  const int64_t step = t.steps_done();
  const std::string dir = save_dir + "/" + step_dir_name(step);
  std::error_code ec;
  Status prep = Status::Ok();
  if (me == 0) {
    fs::remove_all(dir, ec);
    if (!ec) fs::create_directories(dir, ec);
    if (ec) prep = InvalidArgument(dir + ": cannot create the checkpoint folder: " + ec.message());
  }
  PARATUNE_RETURN_IF_ERROR(agree(comms, prep, "preparing " + dir));
  fs::create_directories(dir, ec);  // a rank on another node without a shared file system

  ShardWrite sw = write_shard(dir, t, me, o);
  at::Tensor mine = at::tensor(
      {int64_t(sw.status.ok()), sw.data_bytes, sw.index_bytes, int64_t(sw.index_crc)}, at::kLong);
  std::vector<at::Tensor> all = comms.world().allgather(mine);
  Status written = sw.status;
  for (int r = 0; r < comms.world_size() && written.ok(); ++r)
    if (!all[r][0].item<int64_t>())
      written = Internal("writing shard " + std::to_string(r) + " of " + dir +
                         " failed (see rank " + std::to_string(r) + "'s message)");
  if (!written.ok()) return written;

  Status man = Status::Ok();
  if (me == 0) {
    CheckpointManifest m;
    m.step = step;
    m.world_size = comms.world_size();
    m.seed = int64_t(t.options().seed);
    m.data = info.data;
    m.data_seed = info.data_seed;
    const models::AdamOptions& a = t.options().adam;
    m.adam = AdamHyper{a.lr, a.beta1, a.beta2, a.eps, a.max_grad_norm};
    m.model = t.config();
    m.strategy = t.strategy();
    for (int r = 0; r < comms.world_size(); ++r) {
      ShardEntry e;
      e.rank = r;
      e.index_file = shard_index_name(r);
      e.index_bytes = all[r][2].item<int64_t>();
      e.index_crc32 = uint32_t(all[r][3].item<int64_t>());
      e.data_file = shard_data_name(r);
      e.data_bytes = all[r][1].item<int64_t>();
      m.shards.push_back(e);
    }
    const std::string text = dump_json(to_json(m));
    const std::string path = dir + "/" + kManifestFile;
    if (o.fault.phase == SaveFault::Phase::kManifestRename && o.fault.step == step) {
      BlockWriter w(path, int64_t(1) << 30);
      (void)w.append(text.data(), int64_t(text.size()));
      (void)w.flush_buffer();
      die_by_sigkill();
    }
    man = write_file_durable(path, text);
    if (man.ok())
      man = write_file_durable(save_dir + "/" + kLatestFile, step_dir_name(step) + "\n");
    if (man.ok()) prune(save_dir, step, o.keep);
  }
  return agree(comms, man, "writing the manifest of " + dir);
}

namespace {

struct Source {
  int shard;  // rank of the shard
  const PieceInfo* piece;
};

SliceRange slice_of(const PieceInfo& p) {
  return {p.full_shape, p.split_dim, p.tp, p.tp_rank, p.begin, p.end};
}

class Loader {
 public:
  explicit Loader(const OpenCheckpoint& c) : c_(c) {
    for (size_t r = 0; r < c.indices.size(); ++r) {
      const auto& pieces = c.indices[r].pieces;
      for (size_t j = 0; j < pieces.size(); ++j)
        by_tensor_[{pieces[j].unit, pieces[j].param}].push_back({int(r), &pieces[j]});
    }
  }

  Status load_unit(ShardedUnit& u) {
    ShardedUnit::State st = u.state();
    const int tp = u.tp().size(), tpi = u.tp().index();
    const bool zero = u.strategy().dp_type != DpType::kDdp;
    const bool zero3 = u.strategy().dp_type == DpType::kZero3;
    const int64_t s0 = u.shard_begin(), s1 = std::min(u.numel(), s0 + u.shard_size());
    for (size_t i = 0; i < u.specs().size(); ++i) {
      const models::ParamSpec& spec = u.specs()[i];
      const std::string what = u.name() + "." + spec.name;
      auto it = by_tensor_.find({u.name(), spec.name});
      if (it == by_tensor_.end())
        return InvalidArgument(c_.dir + ": no shard holds " + what +
                               " (not this model's checkpoint?)");
      std::vector<SliceRange> sources;
      for (const Source& s : it->second) {
        const PieceInfo& p = *s.piece;
        const int split = spec.tp_replicated() ? -1 : spec.split_dim;
        if (p.full_shape != spec.full_shape || (p.split_dim >= 0 && p.split_dim != split)) {
          return InvalidArgument(c_.dir + "/" + shard_index_name(s.shard) + ": piece of " + what +
                                 ": field \"full_shape\"/\"split_dim\" does not match the model");
        }
        sources.push_back(slice_of(p));
      }
      const int64_t off = u.offset(i), n = spec.local_numel(tp);
      SliceRange target{spec.full_shape,
                        spec.tp_replicated() ? -1 : spec.split_dim,
                        spec.tp_replicated() ? 1 : tp,
                        spec.tp_replicated() ? 0 : tpi,
                        0,
                        n};
      SliceRange ptarget = target, otarget = target;
      const int64_t lo = std::max(s0, off), hi = std::min(s1, off + n);
      if (zero3) ptarget.begin = lo - off, ptarget.end = std::max(lo, hi) - off;
      if (zero) otarget.begin = lo - off, otarget.end = std::max(lo, hi) - off;
      if (ptarget.end > ptarget.begin) {
        float* dst = st.params.data_ptr<float>() + (off + ptarget.begin - st.params_begin);
        PARATUNE_ASSIGN_OR_RETURN(std::vector<Copy> cp, plan_copies(ptarget, sources, what));
        PARATUNE_RETURN_IF_ERROR(run(cp, it->second, 0, dst));
      }
      if (otarget.end > otarget.begin) {
        const int64_t at = off + otarget.begin - st.optim_begin;
        PARATUNE_ASSIGN_OR_RETURN(std::vector<Copy> cp, plan_copies(otarget, sources, what));
        PARATUNE_RETURN_IF_ERROR(run(cp, it->second, 1, st.m.data_ptr<float>() + at));
        PARATUNE_RETURN_IF_ERROR(run(cp, it->second, 2, st.v.data_ptr<float>() + at));
      }
    }
    return Status::Ok();
  }

  Status read_rng(Rank r, std::vector<char>* out) {
    const ShardIndex& s = c_.indices[r];
    out->resize(size_t(s.rng_bytes));
    return reader(r).read(s.rng_offset, s.rng_bytes, out->data());
  }

  LoadStats stats() const {
    LoadStats st;
    for (const auto& [r, rd] : readers_) st.bytes_read += rd->bytes_read();
    st.shards_read = int(readers_.size());
    return st;
  }

 private:
  // field 0: param values, 1: exp_avg, 2: exp_avg_sq of each piece.
  Status run(const std::vector<Copy>& copies, const std::vector<Source>& src, int field,
             float* dst) {
    for (const Copy& cp : copies) {
      const Source& s = src[size_t(cp.source)];
      const int64_t at = s.piece->offset + 4 * (field * s.piece->numel() + cp.src);
      PARATUNE_RETURN_IF_ERROR(reader(s.shard).read(at, 4 * cp.len, dst + cp.dst));
    }
    return Status::Ok();
  }

  BlockReader& reader(Rank r) {
    auto it = readers_.find(r);
    if (it == readers_.end()) {
      const ShardIndex& s = c_.indices[r];
      it = readers_
               .emplace(r, std::make_unique<BlockReader>(c_.data_path(r), s.data_bytes,
                                                         s.block_bytes, s.block_crc32))
               .first;
    }
    return *it->second;
  }

  const OpenCheckpoint& c_;
  std::map<std::pair<std::string, std::string>, std::vector<Source>> by_tensor_;
  std::map<Rank, std::unique_ptr<BlockReader>> readers_;
};

}  // namespace

StatusOr<LoadStats> load_checkpoint(const OpenCheckpoint& c, Trainer& t, Comms& comms) {
  Loader loader(c);
  Status st = Status::Ok();
  {
    at::NoGradGuard ng;
    for (const auto& up : t.units()) {
      st = loader.load_unit(*up);
      if (!st.ok()) break;
    }
  }
  const bool same_plan = c.manifest.strategy == t.strategy();
  bool rng = false;
  if (st.ok() && same_plan) {
    std::vector<char> bytes;
    st = loader.read_rng(comms.rank(), &bytes);
    if (st.ok()) {
      at::Generator gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      at::Tensor cur = gen.get_state();
      if (int64_t(bytes.size()) == cur.numel() * cur.element_size()) {
        at::Tensor s = at::empty_like(cur);
        std::memcpy(s.data_ptr(), bytes.data(), bytes.size());
        gen.set_state(s);
        rng = true;
      }
    }
  }
  PARATUNE_RETURN_IF_ERROR(agree(comms, st, "loading checkpoint " + c.dir));
  t.set_steps_done(c.manifest.step);
  LoadStats out = loader.stats();
  out.rng_restored = rng;
  return out;
}

}  // namespace paratune::executor
