// libFuzzer target: checkpoint shard index reader, and the re-sharding planner on the pieces it
// accepts (every accepted piece must map into its full tensor and plan a copy of itself).
#include "bench/fuzz/fuzz_util.h"
#include "core/checkpoint_format.h"
#include "core/checkpoint_layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace paratune;
  auto s = load_shard_index(fuzz::input_file(data, size));
  if (!s.ok()) return 0;
  auto back = shard_index_from_json(to_json(*s), "round-trip");
  if (!back.ok()) fuzz::finding("shard index round trip rejected: " + back.status().message());
  if (!(*back == *s)) fuzz::finding("shard index round trip changed the value");
  for (const PieceInfo& p : s->pieces) {
    if (p.numel() > (1 << 16)) continue;  // keep each input fast
    SliceRange r{p.full_shape, p.split_dim, p.tp, p.tp_rank, p.begin, p.end};
    int64_t numel = 1;
    for (int64_t d : p.full_shape) numel *= d;
    int64_t covered = 0;
    for (const FullRun& fr : full_runs(r)) {
      if (fr.full < 0 || fr.len <= 0 || fr.full + fr.len > numel)
        fuzz::finding("run outside the tensor");
      covered += fr.len;
    }
    if (covered != p.numel()) fuzz::finding("runs do not cover the piece");
    auto cp = plan_copies(r, {r}, "self");
    if (!cp.ok()) fuzz::finding("a piece cannot be copied from itself: " + cp.status().message());
  }
  return 0;
}
