#include "core/checkpoint_layout.h"

#include <algorithm>

namespace paratune {

std::vector<FullRun> full_runs(const SliceRange& r) {
  std::vector<FullRun> out;
  if (r.end <= r.begin) return out;
  if (r.split_dim < 0 || r.tp == 1) {
    out.push_back({r.begin, 0, r.end - r.begin});
    return out;
  }
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < r.split_dim; ++i) outer *= r.full_shape[i];
  for (size_t i = r.split_dim + 1; i < r.full_shape.size(); ++i) inner *= r.full_shape[i];
  const int64_t nd = r.full_shape[r.split_dim];
  const int64_t c = nd / r.tp * inner;
  for (int64_t o = r.begin / c; o <= (r.end - 1) / c && o < outer; ++o) {
    const int64_t lo = std::max(r.begin, o * c), hi = std::min(r.end, (o + 1) * c);
    out.push_back({o * nd * inner + r.tp_rank * c + (lo - o * c), lo - r.begin, hi - lo});
  }
  return out;
}

StatusOr<std::vector<Copy>> plan_copies(const SliceRange& target,
                                        const std::vector<SliceRange>& sources,
                                        const std::string& what) {
  struct SrcRun {
    FullRun run;
    int source;
  };
  std::vector<SrcRun> src;
  for (size_t s = 0; s < sources.size(); ++s)
    for (const FullRun& fr : full_runs(sources[s])) src.push_back({fr, int(s)});
  std::sort(src.begin(), src.end(), [](const SrcRun& a, const SrcRun& b) {
    return a.run.full != b.run.full ? a.run.full < b.run.full : a.source < b.source;
  });
  // max_end[i]: the largest end among src[0..i] (monotonic even where sources overlap).
  std::vector<int64_t> max_end(src.size());
  for (size_t i = 0; i < src.size(); ++i)
    max_end[i] = std::max(i ? max_end[i - 1] : 0, src[i].run.full + src[i].run.len);
  std::vector<Copy> out;
  for (const FullRun& t : full_runs(target)) {
    int64_t pos = t.full;  // next full element to fill
    const int64_t stop = t.full + t.len;
    // Runs before the first i with max_end[i] > pos all end at or before pos.
    auto it =
        src.begin() + (std::upper_bound(max_end.begin(), max_end.end(), pos) - max_end.begin());
    for (; it != src.end() && pos < stop; ++it) {
      const FullRun& s = it->run;
      if (s.full + s.len <= pos) continue;
      if (s.full > pos) break;  // gap
      const int64_t hi = std::min(stop, s.full + s.len);
      out.push_back({it->source, s.local + (pos - s.full), t.local + (pos - t.full), hi - pos});
      pos = hi;
    }
    if (pos < stop) {
      return InvalidArgument(what + ": the checkpoint holds no value for element " +
                             std::to_string(pos) + " of the full tensor (" +
                             std::to_string(stop - pos) + " elements missing from this range)");
    }
  }
  return out;
}

}  // namespace paratune
