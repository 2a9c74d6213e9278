#include "tests/fuzz/decision_properties.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/common/decision.h"
#include "engine/compile/compiler.h"
#include "engine/evaluate/evaluator.h"
#include "engine/load/policy_loader.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/reference_evaluator.h"

namespace portcullis::fuzz {
namespace {

// A policy or request as a failure message shows it: enough to reproduce by
// hand, cut so that a large input does not bury the verdicts.
std::string Show(const google::protobuf::Message& message) {
  constexpr size_t kShown = 4000;
  std::string text = message.ShortDebugString();
  if (text.size() > kShown) {
    text.resize(kShown);
    text += "...";
  }
  return text;
}

std::string Show(Decision decision) {
  return absl::StrCat(VerdictName(decision.verdict), "/",
                      ReasonName(decision.reason));
}

std::string Mismatch(absl::string_view what, Decision got, Decision want,
                     const v1::PolicySet& policy,
                     const v1::CheckRequest& request,
                     const Explanation& explanation) {
  return absl::StrCat(what, ": ", Show(got), " but expected ", Show(want),
                      "\nrequest: ", Show(request), "\npolicy: ", Show(policy),
                      "\nexplanation:\n", explanation.ToText());
}

bool IsNameFailure(Reason reason) {
  switch (reason) {
    case Reason::kInvalidRequest:
    case Reason::kUnknownPrincipal:
    case Reason::kUnknownObjectType:
    case Reason::kUnknownAction:
    case Reason::kUnknownEntity:
    case Reason::kUnknownRole:
      return true;
    case Reason::kGranted:
    case Reason::kTenant:
    case Reason::kScope:
    case Reason::kPartnerOnly:
    case Reason::kRbac:
    case Reason::kOwnership:
    case Reason::kStaleSnapshot:
    case Reason::kNoPolicy:
      return false;
  }
  return false;
}

// Only granted and ownership may come with a verdict other than not_allowed,
// and the explanation must end at the rule that decided.
void CheckExplanationShape(const Explanation& explanation,
                           const v1::CheckRequest& request) {
  const Decision decision = explanation.decision;
  const std::string context =
      absl::StrCat(Show(decision), "\nrequest: ", Show(request),
                   "\nexplanation:\n", explanation.ToText());
  switch (decision.verdict) {
    case Verdict::kAllowed:
      PORTCULLIS_FUZZ_CHECK(decision.reason == Reason::kGranted ||
                                decision.reason == Reason::kOwnership,
                            context);
      break;
    case Verdict::kAllowedForOwn:
      PORTCULLIS_FUZZ_CHECK(decision.reason == Reason::kOwnership, context);
      break;
    case Verdict::kNotAllowed:
      PORTCULLIS_FUZZ_CHECK(decision.reason != Reason::kGranted, context);
      break;
  }
  const std::vector<ExplanationStep>& steps = explanation.steps;
  PORTCULLIS_FUZZ_CHECK(!steps.empty(), context);
  for (size_t i = 0; i + 1 < steps.size(); ++i) {
    PORTCULLIS_FUZZ_CHECK(steps[i].passed, context);
  }
  if (decision.verdict == Verdict::kNotAllowed) {
    PORTCULLIS_FUZZ_CHECK(!steps.back().passed, context);
    PORTCULLIS_FUZZ_CHECK(steps.back().rule == ReasonName(decision.reason),
                          context);
  } else {
    PORTCULLIS_FUZZ_CHECK(steps.back().passed, context);
  }
  const v1::CheckResponse response = explanation.ToResponse(request.id());
  PORTCULLIS_FUZZ_CHECK(
      response.id() == request.id() &&
          response.decision() == VerdictName(decision.verdict) &&
          response.reason() == ReasonName(decision.reason) &&
          response.explanation_size() == static_cast<int>(steps.size()),
      context);
}

// Binds the request's principal the way a service would, once per token.
absl::StatusOr<Principal> BindPrincipal(const CompiledPolicy& compiled,
                                        const v1::CheckRequest& request) {
  const v1::Principal& principal = request.principal();
  if (principal.has_partner()) {
    return compiled.BindPartner(principal.partner().client_id());
  }
  const v1::EntityUserPrincipal& user = principal.entity_user();
  return compiled.BindEntityUser(user.user_id(), user.entity_id(),
                                 user.role_id(), user.client_id());
}

// The request in interned ids, when every name in it resolves.
struct BoundRequest {
  Principal principal;
  ActionId action;
  EntityId entity;
  std::optional<ResourceRef> resource;
};
std::optional<BoundRequest> Bind(const CompiledPolicy& compiled,
                                 const v1::CheckRequest& request) {
  absl::StatusOr<Principal> principal = BindPrincipal(compiled, request);
  const std::optional<ActionId> action =
      compiled.FindAction(request.object_type(), request.action());
  const std::optional<EntityId> entity =
      compiled.FindEntity(request.entity_id());
  if (!principal.ok() || !action.has_value() || !entity.has_value()) {
    return std::nullopt;
  }
  BoundRequest bound{*std::move(principal), *action, *entity, std::nullopt};
  if (request.has_resource()) {
    const std::optional<EntityId> owner =
        compiled.FindEntity(request.resource().entity_id());
    if (!owner.has_value()) return std::nullopt;
    bound.resource = ResourceRef{*owner, request.resource().created_by()};
  }
  return bound;
}

Decision CheckBound(const CompiledPolicy& compiled, const BoundRequest& bound) {
  return Check(compiled, bound.principal, bound.action, bound.entity,
               bound.resource.has_value() ? &*bound.resource : nullptr);
}

// The `i`th choice among `names`, or one time in eight (and whenever `names`
// is empty) among `others`.
template <typename T>
const T& Choose(const std::vector<T>& names, const std::vector<T>& others,
                size_t i) {
  if (names.empty() || i % 8 == 7) return others[(i / 8) % others.size()];
  return names[i % names.size()];
}

bool AllStringsAreUtf8(const google::protobuf::Message& message) {
  const google::protobuf::Reflection& reflection = *message.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection.ListFields(message, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    const int count =
        field->is_repeated() ? reflection.FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      if (field->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
        std::string scratch;
        const std::string& value =
            field->is_repeated()
                ? reflection.GetRepeatedStringReference(message, field, i,
                                                        &scratch)
                : reflection.GetStringReference(message, field, &scratch);
        if (!google::protobuf::internal::IsStructurallyValidUTF8(value)) {
          return false;
        }
      } else if (field->cpp_type() ==
                 google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
        const google::protobuf::Message& child =
            field->is_repeated()
                ? reflection.GetRepeatedMessage(message, field, i)
                : reflection.GetMessage(message, field);
        if (!AllStringsAreUtf8(child)) return false;
      }
    }
  }
  return true;
}

}  // namespace

void CheckDecisionProperties(const CompiledPolicy& compiled,
                             const v1::PolicySet& policy,
                             const v1::CheckRequest& request) {
  const CheckRequestView view = ViewOf(request);
  const Decision decision = Check(compiled, view);
  const Explanation explanation = Explain(compiled, view);
  PORTCULLIS_FUZZ_CHECK(explanation.decision == decision,
                        Mismatch("Explain", explanation.decision, decision,
                                 policy, request, explanation));
  CheckExplanationShape(explanation, request);

  const Decision reference = ReferenceCheck(policy, request);
  PORTCULLIS_FUZZ_CHECK(decision == reference,
                        Mismatch("Check by names", decision, reference, policy,
                                 request, explanation));

  // Names that resolve at the name level bind, and ids answer the same.
  if (IsNameFailure(decision.reason)) return;
  const std::optional<BoundRequest> bound = Bind(compiled, request);
  if (!bound.has_value()) {
    // Only an unknown request or resource entity gets past the name checks
    // without binding, and it fails the tenant rule.
    PORTCULLIS_FUZZ_CHECK(decision.reason == Reason::kTenant,
                          Mismatch("unbindable request", decision,
                                   {Verdict::kNotAllowed, Reason::kTenant},
                                   policy, request, explanation));
    return;
  }
  const Decision by_ids = CheckBound(compiled, *bound);
  PORTCULLIS_FUZZ_CHECK(
      by_ids == decision,
      Mismatch("Check by ids", by_ids, decision, policy, request, explanation));
  const Explanation explained_by_ids =
      Explain(compiled, bound->principal, bound->action, bound->entity,
              bound->resource.has_value() ? &*bound->resource : nullptr);
  PORTCULLIS_FUZZ_CHECK(explained_by_ids.decision == decision,
                        Mismatch("Explain by ids", explained_by_ids.decision,
                                 decision, policy, request, explanation));
}

void CheckPolicyProperties(const v1::PolicySet& policy, size_t max_requests) {
  CheckPolicyProperties(policy, RequestsFor(policy, max_requests));
}

void CheckPolicyProperties(const v1::PolicySet& policy,
                           const std::vector<v1::CheckRequest>& requests) {
  const ValidationReport report = Validate(policy);
  const absl::StatusOr<std::unique_ptr<const CompiledPolicy>> compiled =
      Compile(policy);
  PORTCULLIS_FUZZ_CHECK(
      report.ok() == compiled.ok(),
      absl::StrCat("Validate and Compile disagree: ",
                   compiled.status().ToString(), "\npolicy: ", Show(policy)));
  if (!compiled.ok()) {
    std::string expected = absl::StrJoin(
        report.errors, "\n", [](std::string* out, const PolicyError& error) {
          out->append(error.ToString());
        });
    if (report.more_errors > 0) {
      absl::StrAppend(&expected, "\n(and ", report.more_errors,
                      " more errors)");
    }
    PORTCULLIS_FUZZ_CHECK(
        absl::IsInvalidArgument(compiled.status()) &&
            compiled.status().message() == expected,
        absl::StrCat(compiled.status().ToString(), "\nexpected: ", expected));
    return;
  }

  const PolicyStats stats = (*compiled)->Stats();
  PORTCULLIS_FUZZ_CHECK(
      stats.object_types ==
              static_cast<size_t>(policy.catalog().object_types_size()) &&
          stats.roles == static_cast<size_t>(policy.roles_size()) &&
          stats.entities == static_cast<size_t>(policy.entities_size()) &&
          stats.credentials == static_cast<size_t>(policy.credentials_size()),
      absl::StrCat("a compiled policy lost or gained names; policy: ",
                   Show(policy)));

  for (const v1::CheckRequest& request : requests) {
    CheckDecisionProperties(**compiled, policy, request);
  }

  // Ids of one snapshot never work in another, even one compiled from the
  // same policy, where every index is in range.
  const absl::StatusOr<std::unique_ptr<const CompiledPolicy>> again =
      Compile(policy);
  PORTCULLIS_FUZZ_CHECK(
      again.ok() && (*again)->snapshot() != (*compiled)->snapshot(),
      "recompiling gave no fresh snapshot");
  for (const v1::CheckRequest& request : requests) {
    const std::optional<BoundRequest> bound = Bind(**compiled, request);
    if (!bound.has_value()) continue;
    const Decision stale = CheckBound(**again, *bound);
    PORTCULLIS_FUZZ_CHECK(
        stale.verdict == Verdict::kNotAllowed &&
            stale.reason == Reason::kStaleSnapshot,
        absl::StrCat("ids of another snapshot answered ", Show(stale),
                     "\nrequest: ", Show(request)));
    break;
  }
}

std::vector<v1::CheckRequest> RequestsFor(const v1::PolicySet& policy,
                                          size_t max_requests) {
  std::vector<std::string> clients, entities, roles;
  for (const v1::Credential& credential : policy.credentials()) {
    clients.push_back(credential.client_id());
  }
  for (const v1::Entity& entity : policy.entities()) {
    entities.push_back(entity.id());
  }
  for (const v1::Role& role : policy.roles()) {
    roles.push_back(role.id().empty() ? role.name() : role.id());
  }
  std::vector<std::pair<std::string, std::string>> actions;
  for (const v1::ObjectType& type : policy.catalog().object_types()) {
    for (const v1::Action& action : type.actions()) {
      actions.emplace_back(type.name(), action.name());
    }
  }
  const std::string first_type = actions.empty() ? "" : actions[0].first;
  // Names the policy does not define, chosen one time in eight, so that
  // failures are requested too.
  const std::vector<std::string> no_clients = {"", "no-such-client"};
  const std::vector<std::string> no_entities = {"", "no-such-entity"};
  const std::vector<std::string> no_roles = {"no-such-role"};
  const std::vector<std::pair<std::string, std::string>> no_actions = {
      {first_type, "no-such-action"}, {"no-such-type", "read"}, {"", ""}};
  const std::vector<std::string> users = {"u-1", "u-2"};
  const std::vector<std::string> no_users = {""};

  // Each part walks its list with its own stride, so that consecutive
  // requests differ in every part and small policies see most combinations.
  std::vector<v1::CheckRequest> requests;
  for (size_t i = 0; i < max_requests; ++i) {
    v1::CheckRequest request;
    request.set_id(absl::StrCat("r", i));
    const std::string& entity = Choose(entities, no_entities, i * 5 + i / 7);
    if (i % 16 == 15) {
      // no principal
    } else if (i % 3 == 0) {
      request.mutable_principal()->mutable_partner()->set_client_id(
          Choose(clients, no_clients, i * 7 + i / 3));
    } else {
      v1::EntityUserPrincipal* user =
          request.mutable_principal()->mutable_entity_user();
      user->set_user_id(Choose(users, no_users, i / 2));
      // Mostly the request's own entity, so that tenant often passes.
      user->set_entity_id(i % 4 == 3 ? Choose(entities, no_entities, i * 3)
                                     : entity);
      // Half the users have the entity's default role, half no client.
      if (i / 2 % 2 == 1) {
        user->set_role_id(Choose(roles, no_roles, i * 11 + i / 5));
      }
      if (i / 3 % 2 == 1) {
        user->set_client_id(Choose(clients, no_clients, i * 13 + i / 2));
      }
    }
    const auto& action = Choose(actions, no_actions, i * 3 + i / 11);
    request.set_object_type(action.first);
    request.set_action(action.second);
    request.set_entity_id(entity);
    switch (i % 5) {
      case 0:
      case 1:
        break;  // no resource
      case 2:
        request.mutable_resource()->set_entity_id(entity);
        request.mutable_resource()->set_created_by("u-1");
        break;
      case 3:
        request.mutable_resource()->set_entity_id(entity);
        break;  // creator unknown
      case 4:
        request.mutable_resource()->set_entity_id(
            Choose(entities, no_entities, i * 7));
        request.mutable_resource()->set_created_by("u-2");
        break;
    }
    requests.push_back(std::move(request));
  }
  return requests;
}

void CheckFormatRoundTrip(const v1::PolicySet& policy) {
  const std::string serialized = policy.SerializeAsString();
  std::string text;
  PORTCULLIS_FUZZ_CHECK(
      google::protobuf::TextFormat::PrintToString(policy, &text), Show(policy));
  const absl::StatusOr<v1::PolicySet> from_text = ParsePolicyText(text);
  PORTCULLIS_FUZZ_CHECK(
      from_text.ok() && from_text->SerializeAsString() == serialized,
      absl::StrCat("text format round trip: ", from_text.status().ToString(),
                   "\n", text));

  // JSON strings are UTF-8: the printer drops bytes that are not, so such a
  // policy cannot be written as JSON, and the loader is not asked to read it.
  if (!AllStringsAreUtf8(policy)) return;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  const auto printed =
      google::protobuf::util::MessageToJsonString(policy, &json, options);
  PORTCULLIS_FUZZ_CHECK(printed.ok(), printed.ToString());
  const absl::StatusOr<v1::PolicySet> from_json = ParsePolicyJson(json);
  PORTCULLIS_FUZZ_CHECK(
      from_json.ok() && from_json->SerializeAsString() == serialized,
      absl::StrCat("JSON round trip: ", from_json.status().ToString(), "\n",
                   json));
}

void SilenceProtobufLogs() {
  static const bool silenced = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)silenced;
}

}  // namespace portcullis::fuzz
