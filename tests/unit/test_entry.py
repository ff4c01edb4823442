"""The handlers' batch processors: kept for the container's life, never shared by two invocations at once."""

import threading

from aws_lambda_powertools.utilities.batch import EventType

from relaycast.entry import batch_processor


def test_a_thread_keeps_its_processor_and_another_thread_gets_its_own():
    mine = batch_processor(EventType.SQS)
    assert batch_processor(EventType.SQS) is mine  # built once: once per container in Lambda
    assert batch_processor(EventType.SQS, raise_on_entire_batch_failure=False) is not mine  # other options, other one
    assert batch_processor(EventType.DynamoDBStreams) is not mine
    theirs = []
    other = threading.Thread(target=lambda: theirs.append(batch_processor(EventType.SQS)))
    other.start()
    other.join()
    # A processor holds the batch it works on: a concurrent invocation in this process must not see it.
    assert theirs and theirs[0] is not mine
