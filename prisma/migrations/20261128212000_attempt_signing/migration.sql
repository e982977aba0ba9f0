-- The SignatureNonce and Timestamp of each attempt's request, fixed when the attempt is claimed, so a worker taking
-- over the attempt of a dead worker can send exactly that request again (SignatureNonceUsed proves the first copy
-- arrived), and who replayed it, when.
ALTER TABLE "install_attempt" ADD COLUMN     "replay_started_at" TIMESTAMPTZ(3),
ADD COLUMN     "replayed_by" TEXT,
ADD COLUMN     "signature_nonce" TEXT,
ADD COLUMN     "signed_at" TIMESTAMPTZ(3);
