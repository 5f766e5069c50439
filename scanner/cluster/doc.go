// Package cluster spreads one scan over many machines through NATS
// JetStream.
//
// A scan is one permuted index space (target.Space, seeded order). The
// coordinator cuts it into tasks: task k of n is shard k of n of the
// permuted order (target.IterConfig{Seed, Shard: k, Shards: n}), so tasks
// partition the space exactly, each one spreads over all hosts, and a task
// is described by two integers. n is chosen so that a task holds
// Spec.TaskSize targets, a few seconds of work.
//
// # How it runs
//
//   - The coordinator (Coordinator.Start) writes the scan's record — the
//     versioned Spec (prober kind and options, timing, rate, space) and
//     how many tasks it published — to a key-value bucket, creates one
//     shared durable pull consumer for the scan on a WorkQueue stream, and
//     publishes tasks to it a window at a time (Nats-Msg-Id per task).
//   - Workers (RunWorker, embeddable in any Go service) find running scans
//     in the bucket, pull tasks (at most WorkerConfig.Tasks at once), run
//     a local scanner.Scanner on each task's shard with the prober the
//     spec names, heartbeat with InProgress every AckWait/4, publish the
//     results in chunks to a results stream (Nats-Msg-Id
//     scan.task.delivery.chunk, so a retried publish is stored once), and
//     acknowledge the task only after every chunk is stored.
//   - The coordinator reads the results stream from its start and, for
//     each task, merges the first delivery whose chunks are all stored and
//     consistent (right count, targets in the space, no duplicates); later
//     deliveries of the same task are dropped. Results therefore carries
//     each (address, port, protocol) exactly once, even when a task ran
//     twice: after a worker was killed (the server redelivers after
//     AckWait), after a lost ack, or when a slow worker and its
//     replacement both finish.
//
// The stream, not the coordinator's memory, decides which delivery wins,
// so a restarted coordinator (Coordinator.Attach) replays the same
// winners, goes on publishing from the recorded position, and finishes
// the scan; tasks already done are not scanned again. A NATS server
// restart (file storage) loses nothing: every write is retried and
// idempotent. Coordinator.Cancel stops a scan everywhere (record marked,
// queue purged, workers abandon their tasks within a second).
//
// # Rate ceiling
//
// Spec.Rate is a scan-wide probes-per-second ceiling. The consumer's
// MaxAckPending is Spec.Slots, so the server never lets more than Slots
// tasks run at once across all workers, and each task's scanner runs at
// most at Rate/Slots: together they stay below Rate however many workers
// join. Slots should match the workers' total task bound.
//
// # Progress
//
// Scan.Progress reports tasks published, done and running, merged
// targets, per-worker task counts and rates, and stragglers: running
// tasks older than three times the median task time.
//
// # Configuration
//
// The NATS connection (URL, credentials, TLS, reconnects) is the caller's
// *nats.Conn, built with nats.go options; Config only names the cluster's
// subjects, streams and bucket. The package has no globals: several
// coordinators and workers may share one process.
package cluster
