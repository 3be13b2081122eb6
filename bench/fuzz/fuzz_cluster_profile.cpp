// libFuzzer target: cluster profile reader (cluster.json).
#include "bench/fuzz/fuzz_util.h"
#include "core/cluster_profile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace paratune;
  auto c = load_cluster_profile(fuzz::input_file(data, size));
  if (!c.ok()) return 0;
  (void)fingerprint(*c);
  auto back = cluster_profile_from_json(to_json(*c), "round-trip");
  if (!back.ok()) fuzz::finding("cluster profile round trip rejected: " + back.status().message());
  if (!(*back == *c)) fuzz::finding("cluster profile round trip changed the value");
  return 0;
}
