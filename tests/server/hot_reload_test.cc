// Hot reload under traffic: client threads keep authorizing over keep-alive
// connections (bounded in count and time) while the policy file is replaced
// atomically several times. Every answer must be a 200 or a 403 (no 5xx, no
// 429, no connection error), and every answer to a request made wholly
// inside the time one policy version was live (from the moment the server
// reported it published until the next file was written) must be that
// version's answer. Requests spanning a switch may get either version's.
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/server/test_http.h"

namespace portcullis::server::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kThreads = 4;
constexpr int kSwitches = 6;
// Bounds: each client thread stops after this many requests at most, and
// the test gives up waiting for a reload after this long.
constexpr int kMaxRequestsPerThread = 200000;
constexpr auto kReloadDeadline = std::chrono::seconds(15);
constexpr auto kSteadyTime = std::chrono::milliseconds(300);

struct Sample {
  Clock::time_point start, end;
  bool post = false;  // POST /charge-points (changes), else GET (constant)
  unsigned status = 0;
  std::string error;
};

// The policy generation /metrics reports, 0 if none.
int Generation(HttpClient& client) {
  Response r = client.Send("GET", "/metrics", "");
  const std::string key = "\nportcullis_policy_generation ";
  const size_t at = r.body().find(key);
  if (at == std::string::npos) return 0;
  const size_t start = at + key.size();
  int generation = 0;
  if (!absl::SimpleAtoi(
          r.body().substr(start, r.body().find('\n', start) - start),
          &generation)) {
    return 0;
  }
  return generation;
}

TEST(HotReloadTest, NoFailedRequestWhileThePolicyIsReplaced) {
  // Version A: monta-cp-reader may read charge points only (POST: 403
  // scope). Version B: it may write them too (POST: 200). GET is allowed in
  // both. Rate limits out of reach.
  const std::string a = MontaPolicy(100000000);
  const std::string b = absl::StrReplaceAll(
      a, {{"scopes: \"charge-points:read\"\n  rate_limit",
           "scopes: \"charge-points:write\"\n  rate_limit"}});
  ASSERT_NE(a, b);
  std::unique_ptr<TestServer> server = TestServer::Start(a, "");
  ASSERT_NE(server, nullptr);
  const std::string token = server->Token("monta-cp-reader");
  ASSERT_FALSE(token.empty());
  HttpClient control(server->port());
  ASSERT_EQ(Generation(control), 1);

  std::atomic<bool> stop{false};
  std::vector<std::vector<Sample>> samples(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      HttpClient client(server->port());
      const std::string common =
          absl::StrCat("Authorization: Bearer ", token,
                       "\r\nx-monite-entity-id: team-north\r\n"
                       "X-Original-URI: /charge-points\r\n");
      for (int i = 0; i < kMaxRequestsPerThread && !stop.load(); ++i) {
        Sample s;
        s.post = (i + t) % 2 == 0;
        Response r;
        s.start = Clock::now();
        const bool ok = client.Send(
            "GET", "/v1/authorize",
            absl::StrCat(common, "X-Original-Method: ", s.post ? "POST" : "GET",
                         "\r\n"),
            "", &r, &s.error);
        s.end = Clock::now();
        if (ok) s.status = r.result_int();
        samples[t].push_back(std::move(s));
        if (!ok) break;  // a broken connection is a failure; stop here
      }
    });
  }

  // windows[k]: [published k, next write) during which version k is live;
  // version 0 is A, then B, A, B, ...
  struct Window {
    Clock::time_point from, to;
    unsigned post_status;
  };
  std::vector<Window> windows;
  Clock::time_point live_from = Clock::now();
  std::this_thread::sleep_for(kSteadyTime);
  bool reloads_ok = true;
  for (int k = 1; k <= kSwitches && reloads_ok; ++k) {
    const Clock::time_point written = Clock::now();
    windows.push_back({live_from, written, (k - 1) % 2 == 0 ? 403u : 200u});
    WriteFileAtomically(server->dir() + "/policy.txtpb", k % 2 ? b : a);
    // Wait (bounded) until the server says generation k+1 is published.
    const Clock::time_point deadline = written + kReloadDeadline;
    while (Generation(control) != k + 1) {
      if (Clock::now() > deadline) {
        ADD_FAILURE() << "generation " << k + 1 << " never published";
        reloads_ok = false;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    live_from = Clock::now();
    std::this_thread::sleep_for(kSteadyTime);
  }
  const Clock::time_point stopped = Clock::now();
  windows.push_back({live_from, stopped, kSwitches % 2 == 0 ? 403u : 200u});
  stop = true;
  for (std::thread& thread : threads) thread.join();
  ASSERT_TRUE(reloads_ok);

  int total = 0, errors = 0, unexpected = 0, wrong = 0;
  std::vector<int> checked(windows.size(), 0);
  for (const std::vector<Sample>& thread_samples : samples) {
    for (const Sample& s : thread_samples) {
      ++total;
      if (!s.error.empty()) {
        if (++errors <= 5) ADD_FAILURE() << "connection error: " << s.error;
        continue;
      }
      const unsigned expected_get = 200;
      if (!s.post) {
        if (s.status != expected_get && ++unexpected <= 5) {
          ADD_FAILURE() << "GET answered " << s.status;
        }
        continue;
      }
      if (s.status != 200 && s.status != 403) {
        if (++unexpected <= 5) ADD_FAILURE() << "POST answered " << s.status;
        continue;
      }
      for (size_t w = 0; w < windows.size(); ++w) {
        if (s.start >= windows[w].from && s.end <= windows[w].to) {
          ++checked[w];
          if (s.status != windows[w].post_status && ++wrong <= 5) {
            ADD_FAILURE() << "version " << w << " live, POST answered "
                          << s.status << ", expected "
                          << windows[w].post_status;
          }
        }
      }
    }
  }
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(unexpected, 0);
  EXPECT_EQ(wrong, 0);
  // The traffic really ran in every version's window.
  for (size_t w = 0; w < windows.size(); ++w) {
    EXPECT_GE(checked[w], 10)
        << "too few requests while version " << w << " was live";
  }
  EXPECT_GE(Generation(control), kSwitches + 1);
  std::cout << total << " requests, " << kSwitches << " reloads\n";
}

}  // namespace
}  // namespace portcullis::server::testing
