-- A Slack incoming-webhook URL, or a DingTalk robot URL with its access_token, is a credential: whoever has it posts
-- to the channel. For those kinds the URL is now sealed here (@fleet/secrets, context `webhook:<id>:url`, listed in
-- packages/db/src/sealed-columns.ts so rotate-encryption-key re-seals it) and `url` keeps only its masked form.
-- Rows made before this hold their chat URL in clear in `url`, with this column null: the API seals them when it
-- starts with FLEET_ENCRYPTION_KEY (sealClearSecretUrls: SQL has no key to do it here), and the notifier sends to
-- `url` for as long as a row has no sealed URL. Standard subscriptions keep their URL in `url` only.
ALTER TABLE "webhook" ADD COLUMN "url_sealed" TEXT;
