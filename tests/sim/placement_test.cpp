#include "sim/placement.h"

#include <gtest/gtest.h>

namespace thaw::sim {
namespace {

std::vector<PlacedModel> models(int n, double load = 100.0) {
  std::vector<PlacedModel> v;
  for (int i = 0; i < n; ++i) v.push_back({"model-" + std::to_string(i), load});
  return v;
}

TEST(Placement, OneNodeTakesEverything) {
  PlacementOptions o;
  for (int n : place_models(models(50), o)) EXPECT_EQ(n, 0);
}

TEST(Placement, SameSeedSamePlacementOtherSeedDiffers) {
  PlacementOptions o;
  o.nodes = 8;
  auto a = place_models(models(500), o), b = place_models(models(500), o);
  EXPECT_EQ(a, b);
  o.seed = 2;
  EXPECT_NE(a, place_models(models(500), o));
}

TEST(Placement, NoNodeGoesPastItsBound) {
  PlacementOptions o;
  o.nodes = 16;
  o.epsilon = 0.25;
  auto ms = models(2000);
  for (size_t i = 0; i < ms.size(); ++i) ms[i].load = 10.0 + static_cast<double>(i % 7) * 30.0;
  double total = 0;
  for (auto& m : ms) total += m.load;
  auto node = place_models(ms, o);
  std::vector<double> load(16, 0.0);
  for (size_t i = 0; i < ms.size(); ++i) load[static_cast<size_t>(node[i])] += ms[i].load;
  for (double l : load) {
    EXPECT_LE(l, 1.25 * total / 16 + 1e-9);
    EXPECT_GT(l, 0.0);  // every node gets some
  }
}

TEST(Placement, AddingANodeMovesAboutItsShare) {
  // With room to spare the bound never bites: placement is the plain ring's, and a 9th node takes
  // about 1/9 of the models from the others; nobody else moves.
  PlacementOptions o;
  o.nodes = 8;
  o.epsilon = 10.0;
  auto ms = models(4000);
  auto before = place_models(ms, o);
  o.nodes = 9;
  auto after = place_models(ms, o);
  int moved = 0;
  for (size_t i = 0; i < ms.size(); ++i) {
    if (before[i] != after[i]) {
      ++moved;
      EXPECT_EQ(after[i], 8) << "a model moved between two old nodes";
    }
  }
  EXPECT_GT(moved, 4000 / 9 / 2);
  EXPECT_LT(moved, 4000 / 9 * 2);
}

TEST(Placement, AFullNodeSpillsToTheNextOnTheRing) {
  PlacementOptions o;
  o.nodes = 4;
  o.epsilon = 0.0;  // every node holds exactly a quarter: equal loads must spread evenly
  auto node = place_models(models(40), o);
  std::vector<int> count(4, 0);
  for (int n : node) ++count[static_cast<size_t>(n)];
  for (int c : count) EXPECT_EQ(c, 10);
}

TEST(Placement, ModelLoadGrowsWithConcurrency) {
  EXPECT_DOUBLE_EQ(model_load(500, 0, 3600), 500);
  EXPECT_DOUBLE_EQ(model_load(500, 7200, 3600), 1500);  // two requests in flight on average
}

}  // namespace
}  // namespace thaw::sim
