from handler_support import load_function, sqs_event


def test_job_for_a_relay_without_grant_is_skipped_with_a_reason_once(stack_env, store, frozen_clock, lambda_context):
    publish = load_function("publish")
    job = {"relay_id": "x-42", "network": "x", "post_id": "1001"}
    assert publish.handler(sqs_event(job), lambda_context) == {"batchItemFailures": []}
    ledger = store.get("RELAY#x-42", "LEDGER#x#1001")
    assert (ledger["status"], ledger["reason"]) == ("skipped", "access has ended")
    assert publish.handler(sqs_event(job, job), lambda_context) == {"batchItemFailures": []}  # redelivered twice


def test_malformed_job_fails_alone_and_goes_back_to_the_queue(stack_env, store, frozen_clock, lambda_context):
    publish = load_function("publish")
    good = {"relay_id": "x-42", "network": "x", "post_id": "1002"}
    bad = {"relay_id": "x-42", "network": "myspace", "post_id": "1; DROP"}
    answer = publish.handler(sqs_event(good, bad, "not json"), lambda_context)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}
