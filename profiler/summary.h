// Human-readable table of a cluster profile (`paratune profile-cluster --summary FILE`) and the
// agreement of two model profiles of one model (`paratune profile-model --compare A B`).
// Torch-free.
//
//   std::cout << cluster_summary(*load_cluster_profile("cluster.json"));
//   ProfileAgreement g = compare_model_profiles(a, b);  // g.within(0.10), g.report(0.10)
#pragma once

#include <string>
#include <vector>

#include "core/cluster_profile.h"
#include "core/model_profile.h"
#include "core/status.h"

namespace paratune::profiler {

std::string cluster_summary(const ClusterProfile& c);

/// One measured time present in both profiles: |b - a| / a is its difference.
struct AgreementRow {
  std::string what;   // e.g. "transformer tp 2 mb 1 forward", "optimizer step 1024 params"
  double a = 0, b = 0;  // ms
  double rel_diff() const;
};

/// The times two model profiles of the same model share (compute points matched by layer type,
/// tp and micro-batch; optimizer points by parameter count) and their activation bytes.
struct ProfileAgreement {
  std::vector<AgreementRow> times;
  std::vector<AgreementRow> activations;  // bytes per sample (a, b in bytes)
  int unmatched = 0;                      // points in only one of the two profiles
  /// B's speed probe over A's, both at their profiles' speed (0 unless both have one of the
  /// same call): how much slower the reference call ran in B's run than in A's.
  double probe_ratio = 0;
  /// Times whose difference is at most `tol` (a fraction, 0.10 = 10%).
  int within(double tol) const;
  double max_rel_diff() const;
  double median_rel_diff() const;
  /// The median of b / a over the times: how much slower B ran as a whole (1: no change).
  double median_ratio() const;
  /// The same comparison with every b divided by median_ratio(): what is left once the
  /// machine's overall speed in each run is taken out (activations unchanged).
  ProfileAgreement speed_removed() const;
  /// The comparison with every b divided by probe_ratio: B put on A's speed by the speed
  /// probe, as `profile-model --speed-reference A` would have written it (unchanged when
  /// probe_ratio is 0).
  ProfileAgreement at_probe_speed() const;
  /// Table of every time, sorted by difference, and a one-line verdict at `tol`, then the
  /// verdicts of speed_removed() and at_probe_speed() (for information: the verdict is the
  /// first line's).
  std::string report(double tol) const;
};

/// InvalidArgument when the two are profiles of different models (names or fingerprints).
StatusOr<ProfileAgreement> compare_model_profiles(const ModelProfile& a, const ModelProfile& b);

}  // namespace paratune::profiler
