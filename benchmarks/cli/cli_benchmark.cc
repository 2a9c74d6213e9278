// `portcullis check`'s request-line path: a line of JSON in, a line of JSON
// out, against a policy of 100,000 roles (the CLI's throughput figure).
//
//   BM_CliCheck/answer_line/<roles>       one line: parse, names, check, answer
//   BM_CliCheck/explain_line/<roles>      the same with --explain
//   BM_CliCheck/stream_1m/<roles>/threads_arg:<n>
//                                         1,000,000 lines through CheckStream
//                                         (batching, threads, ordered output)
//                                         from a memory file to /dev/null
//
// Policy loading is not included: BM_Compile measures compiling, and the
// policy loader's JSON parsing is protobuf's.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "benchmarks/fixed_iterations.h"
#include "benchmarks/policy_fixtures.h"
#include "engine/common/json_string.h"
#include "engine/compile/compiler.h"
#include "tools/cli/check_stream.h"
#include "tools/cli/request_parser.h"

namespace portcullis::bench {
namespace {

constexpr int kLines = 4096;  // a power of two: the loop masks the index
constexpr int kStreamLines = 1000000;

std::string Quoted(absl::string_view value) {
  std::string out;
  internal::AppendJsonString(value, out);
  return out;
}

// A request line as `portcullis check` reads it (docs/design.md's "Formats",
// with tools/gen_large_policy.py's spacing).
std::string RequestLine(const v1::CheckRequest& r) {
  std::string principal;
  if (r.principal().has_partner()) {
    principal = absl::StrCat("{\"partner\": {\"client_id\": ",
                             Quoted(r.principal().partner().client_id()), "}}");
  } else {
    const v1::EntityUserPrincipal& u = r.principal().entity_user();
    principal =
        absl::StrCat("{\"entity_user\": {\"user_id\": ", Quoted(u.user_id()),
                     ", \"entity_id\": ", Quoted(u.entity_id()));
    if (!u.role_id().empty()) {
      absl::StrAppend(&principal, ", \"role_id\": ", Quoted(u.role_id()));
    }
    if (!u.client_id().empty()) {
      absl::StrAppend(&principal, ", \"client_id\": ", Quoted(u.client_id()));
    }
    absl::StrAppend(&principal, "}}");
  }
  std::string line =
      absl::StrCat("{\"id\": ", Quoted(r.id()), ", \"principal\": ", principal,
                   ", \"object_type\": ", Quoted(r.object_type()),
                   ", \"action\": ", Quoted(r.action()),
                   ", \"entity_id\": ", Quoted(r.entity_id()));
  if (r.has_resource()) {
    absl::StrAppend(
        &line,
        ", \"resource\": {\"entity_id\": ", Quoted(r.resource().entity_id()),
        ", \"created_by\": ", Quoted(r.resource().created_by()), "}");
  }
  absl::StrAppend(&line, "}");
  return line;
}

struct Fixture {
  std::unique_ptr<const CompiledPolicy> compiled;
  std::vector<std::string> lines;
};

const Fixture& GetFixture(int roles) {
  static auto* fixtures = new std::vector<std::pair<int, Fixture>>();
  for (const auto& [size, fixture] : *fixtures) {
    if (size == roles) return fixture;
  }
  const v1::PolicySet policy = SyntheticPolicy(roles, RowShape::kRealistic);
  Fixture fixture;
  fixture.compiled = *Compile(policy);
  int id = 0;
  for (auto& request : PrepareRequests(policy, *fixture.compiled, kLines, 7)) {
    request->proto.set_id(absl::StrCat("q", id++));
    fixture.lines.push_back(RequestLine(request->proto));
  }
  fixtures->emplace_back(roles, std::move(fixture));
  return fixtures->back().second;
}

void AnswerLines(benchmark::State& state, bool explain) {
  const Fixture& f = GetFixture(static_cast<int>(state.range(0)));
  const size_t mask = f.lines.size() - 1;
  if ((f.lines.size() & mask) != 0) {
    state.SkipWithError("the request count is not a power of two");
    return;
  }
  cli::RequestParser parser;
  std::string out;
  size_t i = 0, errors = 0;
  for (auto _ : state) {
    out.clear();
    const size_t line = i++ & mask;
    errors += !cli::AnswerLine(*f.compiled, parser, f.lines[line], line + 1,
                               explain, out);
    benchmark::DoNotOptimize(out.data());
  }
  if (errors != 0) state.SkipWithError("a request line was not answered");
  state.SetItemsProcessed(state.iterations());
}

void BM_AnswerLine(benchmark::State& state) { AnswerLines(state, false); }
void BM_ExplainLine(benchmark::State& state) { AnswerLines(state, true); }

// A million lines in an anonymous memory file, read through CheckStream as
// `portcullis check --requests FILE --threads N > /dev/null` does.
void BM_Stream(benchmark::State& state) {
  const Fixture& f = GetFixture(static_cast<int>(state.range(0)));
  const int fd = memfd_create("requests.jsonl", 0);
  std::FILE* out = std::fopen("/dev/null", "w");
  if (fd < 0 || out == nullptr) {
    state.SkipWithError("memfd_create or /dev/null failed");
    if (fd >= 0) close(fd);
    if (out != nullptr) std::fclose(out);
    return;
  }
  std::string text;
  for (int i = 0; i < kStreamLines; ++i) {
    absl::StrAppend(&text, f.lines[i % f.lines.size()], "\n");
  }
  bool ok =
      write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  cli::CheckStreamOptions options;
  options.threads = static_cast<int>(state.range(1));
  for (auto _ : state) {
    if (!ok || lseek(fd, 0, SEEK_SET) != 0) break;
    const absl::StatusOr<cli::CheckStreamResult> result =
        cli::CheckStream(*f.compiled, fd, "requests.jsonl", out, options);
    ok = result.ok() && result->answered == kStreamLines;
  }
  if (!ok) state.SkipWithError("CheckStream failed or left lines unanswered");
  state.SetItemsProcessed(state.iterations() * kStreamLines);
  state.counters["input_MB"] = static_cast<double>(text.size()) / 1e6;
  close(fd);
  std::fclose(out);
}

BENCHMARK(BM_AnswerLine)
    ->Name("BM_CliCheck/answer_line")
    ->Arg(100000)
    ->Apply(portcullis::internal::FixedIterationsFromEnv);
BENCHMARK(BM_ExplainLine)
    ->Name("BM_CliCheck/explain_line")
    ->Arg(100000)
    ->Apply(portcullis::internal::FixedIterationsFromEnv);
BENCHMARK(BM_Stream)
    ->Name("BM_CliCheck/stream_1m")
    ->ArgNames({"roles", "threads_arg"})
    ->Args({100000, 1})
    ->Args({100000, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3)
    ->Apply(portcullis::internal::FixedIterationsFromEnv);

}  // namespace
}  // namespace portcullis::bench
