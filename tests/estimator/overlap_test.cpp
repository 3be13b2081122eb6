#include "estimator/overlap.h"

#include <gtest/gtest.h>

namespace paratune::estimator {
namespace {

TEST(Overlap, NoSlowdownIsMax) {
  OverlapCoefficients k;
  EXPECT_EQ(overlapped_time(Milliseconds(10), Milliseconds(4), k).value, 10.0);
  EXPECT_EQ(overlapped_time(Milliseconds(10), Milliseconds(14), k).value, 14.0);
  EXPECT_EQ(overlap_exposed(Milliseconds(10), Milliseconds(4), k).value, 0.0);
  EXPECT_EQ(overlap_exposed(Milliseconds(10), Milliseconds(14), k).value, 4.0);
  EXPECT_EQ(overlap_exposed(Milliseconds(0), Milliseconds(3), k).value, 3.0);
}

TEST(Overlap, SlowdownGolden) {
  OverlapCoefficients k;
  k.compute_slowdown = 1.5;
  k.comm_slowdown = 1.25;
  // Comm first: 4 * 1.25 = 5 ms overlapped, 10 - 5/1.5 ms of compute left alone.
  EXPECT_NEAR(overlapped_time(Milliseconds(10), Milliseconds(4), k).value, 5 + 10 - 5 / 1.5, 1e-12);
  // Compute first: 10 * 1.5 = 15 ms overlapped, 20 - 15/1.25 = 8 ms of comm left alone.
  EXPECT_NEAR(overlapped_time(Milliseconds(10), Milliseconds(20), k).value, 23.0, 1e-12);
  EXPECT_NEAR(overlap_exposed(Milliseconds(10), Milliseconds(20), k).value, 13.0, 1e-12);
  // Continuous where both finish together (D * 1.25 == C * 1.5).
  EXPECT_NEAR(overlapped_time(Milliseconds(10), Milliseconds(12), k).value, 15.0, 1e-12);
}

}  // namespace
}  // namespace paratune::estimator
