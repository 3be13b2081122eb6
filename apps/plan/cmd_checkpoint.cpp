// `paratune checkpoint inspect D [--verify] [--tensors]`: what a checkpoint (or a save dir's
// latest complete one) holds: step, model, the strategy and world size it was written under,
// per-shard sizes and pieces, and whether every parameter tensor is covered exactly once.
// --verify also reads every block of every shard and checks its CRC-32. Torch-free: it works in
// the planning-only build too. Exit code 1 on a bad, incomplete or corrupt checkpoint.
#include <cstdio>
#include <map>
#include <string>

#include <cxxopts.hpp>

#include "apps/commands.h"
#include "apps/plan/cli_util.h"
#include "core/checkpoint_format.h"
#include "core/checkpoint_io.h"
#include "core/checkpoint_layout.h"

namespace paratune::apps {

namespace {

struct TensorCoverage {
  std::vector<int64_t> shape;
  std::vector<SliceRange> pieces;
  int64_t stored = 0;  // elements over all pieces
  std::vector<std::string> where;  // "r3:tp1/2[0,512)"
};

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? "," : "") + std::to_string(s[i]);
  return o + "]";
}

int inspect(const std::string& path, bool verify, bool tensors) {
  const char* cmd = "checkpoint inspect";
  std::vector<std::string> skipped;
  auto c = open_checkpoint(path, &skipped);
  if (!c.ok()) return fail(cmd, c.status());
  const CheckpointManifest& m = c->manifest;
  for (const std::string& s : skipped)
    std::printf("skipped %s: no manifest (an interrupted save)\n", s.c_str());
  std::printf("checkpoint %s\n", c->dir.c_str());
  std::printf("  format       %s v%d, complete (manifest present, shard indices match it)\n",
              kManifestFormat, CheckpointManifest::kFormatVersion);
  std::printf("  step         %lld (the next step reads batch %lld)\n",
              static_cast<long long>(m.step), static_cast<long long>(m.step));
  const ModelConfig& md = m.model;
  std::printf("  model        %s (%s): %d layers, hidden %d, heads %d/%d kv, ffn %d, seq %d, "
              "vocab %d, %lld parameters\n", md.name.c_str(), fingerprint(md).c_str(),
              md.num_layers, md.hidden, md.heads, md.kv_heads, md.ffn_hidden, md.seq_len, md.vocab,
              static_cast<long long>(md.total_param_count()));
  const Strategy& s = m.strategy;
  std::printf("  written by   %d ranks: pp %d, layers per stage", m.world_size, s.pp);
  for (int d : s.pp_division) std::printf(" %d", d);
  std::printf(", %d micro-batches, global batch %d\n", s.micro_batches, s.global_batch);
  std::printf("  embedding    %s\n", to_string(s.embedding).c_str());
  for (size_t l = 0; l < s.layers.size();) {
    size_t e = l;
    while (e + 1 < s.layers.size() && s.layers[e + 1] == s.layers[l]) ++e;
    std::printf("  layers %-5s %s\n",
                (std::to_string(l) + (e > l ? "-" + std::to_string(e) : "")).c_str(),
                to_string(s.layers[l]).c_str());
    l = e + 1;
  }
  std::printf("  training     seed %lld, data %s (seed %lld), Adam lr %g betas %g/%g eps %g, "
              "clip %g\n", static_cast<long long>(m.seed), m.data.c_str(),
              static_cast<long long>(m.data_seed), m.adam.lr, m.adam.beta1, m.adam.beta2,
              m.adam.eps, m.adam.max_grad_norm);

  std::map<std::pair<std::string, std::string>, TensorCoverage> cov;
  int64_t total = 0;
  std::printf("  shards       rank  data bytes  blocks  pieces  rng bytes\n");
  for (const ShardIndex& idx : c->indices) {
    std::printf("               %4d  %10lld  %6zu  %6zu  %9lld\n", idx.rank,
                static_cast<long long>(idx.data_bytes), idx.block_crc32.size(), idx.pieces.size(),
                static_cast<long long>(idx.rng_bytes));
    total += idx.data_bytes;
    for (const PieceInfo& p : idx.pieces) {
      TensorCoverage& t = cov[{p.unit, p.param}];
      if (t.shape.empty()) t.shape = p.full_shape;
      if (t.shape != p.full_shape) {
        return fail(cmd, InvalidArgument(c->dir + "/" + shard_index_name(idx.rank) + ": " +
                                         p.unit + "." + p.param + ": field \"full_shape\" " +
                                         shape_str(p.full_shape) + " differs from " +
                                         shape_str(t.shape) + " in another shard"));
      }
      t.pieces.push_back({p.full_shape, p.split_dim, p.tp, p.tp_rank, p.begin, p.end});
      t.stored += p.numel();
      t.where.push_back("r" + std::to_string(idx.rank) + ":" +
                        (p.split_dim < 0 ? std::string("all")
                                         : "tp" + std::to_string(p.tp_rank) + "/" +
                                               std::to_string(p.tp) + "@" +
                                               std::to_string(p.split_dim)) +
                        "[" + std::to_string(p.begin) + "," + std::to_string(p.end) + ")");
    }
  }
  std::printf("  total        %lld bytes (%s) in %d shards\n", static_cast<long long>(total),
              format_bytes(double(total)).c_str(), m.world_size);
  int64_t elements = 0;
  for (const auto& [key, t] : cov) {
    const std::string what = key.first + "." + key.second;
    const int64_t n = numel(t.shape);
    SliceRange whole{t.shape, -1, 1, 0, 0, n};
    auto cp = plan_copies(whole, t.pieces, c->dir + ": " + what);
    if (!cp.ok()) return fail(cmd, cp.status());
    if (t.stored != n) {
      return fail(cmd, InvalidArgument(c->dir + ": " + what + ": pieces hold " +
                                       std::to_string(t.stored) + " elements for a tensor of " +
                                       std::to_string(n) + " (overlapping pieces)"));
    }
    elements += n;
    if (tensors) {
      std::printf("    %-22s %-12s", what.c_str(), shape_str(t.shape).c_str());
      for (const std::string& w : t.where) std::printf(" %s", w.c_str());
      std::printf("\n");
    }
  }
  std::printf("  parameters   %zu tensors, %lld elements, each element stored exactly once "
              "(with Adam m and v)\n", cov.size(), static_cast<long long>(elements));
  if (verify) {
    int64_t blocks = 0, bytes = 0;
    for (const ShardIndex& idx : c->indices) {
      BlockReader r(c->data_path(idx.rank), idx.data_bytes, idx.block_bytes, idx.block_crc32);
      Status st = r.verify_all();
      if (!st.ok()) return fail(cmd, st);
      blocks += int64_t(idx.block_crc32.size());
      bytes += r.bytes_read();
    }
    std::printf("  verified     %lld blocks, %lld bytes: every CRC-32 matches\n",
                static_cast<long long>(blocks), static_cast<long long>(bytes));
  }
  return 0;
}

}  // namespace

int cmd_checkpoint(int argc, char** argv) {
  cxxopts::Options opts("paratune checkpoint",
                        "Inspect a sharded checkpoint: paratune checkpoint inspect DIR [--verify]");
  opts.add_options()
      ("verify", "read every block of every shard and check its CRC-32")
      ("tensors", "list every parameter tensor and the pieces holding it")
      ("h,help", "show this help")
      ("args", "inspect DIR", cxxopts::value<std::vector<std::string>>());
  opts.parse_positional({"args"});
  opts.positional_help("inspect DIR");
  try {
    auto r = opts.parse(argc, argv);
    if (r.count("help")) {
      std::printf("%s\n", opts.help().c_str());
      return 0;
    }
    std::vector<std::string> args;
    if (r.count("args")) args = r["args"].as<std::vector<std::string>>();
    if (args.size() != 2 || args[0] != "inspect") {
      std::fprintf(stderr, "paratune checkpoint: usage: paratune checkpoint inspect DIR "
                           "[--verify] [--tensors]\n");
      return 2;
    }
    return inspect(args[1], r.count("verify") > 0, r.count("tensors") > 0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "paratune checkpoint: %s\n", e.what());
    return 2;
  }
}

}  // namespace paratune::apps
