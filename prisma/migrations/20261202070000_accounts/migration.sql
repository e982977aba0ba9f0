-- Accounts (issue #20): the own AccessKey (sealed), endpoint and limits of each Alibaba account, every version of
-- its credentials, kept while an attempt signed with it may be replayed, and on each attempt, which version signed it.
ALTER TABLE "install_attempt" ADD COLUMN "credentials_id" BIGINT;

-- CreateTable
CREATE TABLE "account" (
    "user_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "endpoint" TEXT,
    "rate_limit_rps" INTEGER,
    "rate_burst" INTEGER,
    "credentials_id" BIGINT,
    "credentials_updated_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_by_key_id" UUID,

    CONSTRAINT "account_pkey" PRIMARY KEY ("user_id")
);

-- CreateTable
CREATE TABLE "account_credentials" (
    "id" BIGSERIAL NOT NULL,
    "user_id" TEXT NOT NULL,
    "access_key_id" TEXT NOT NULL,
    "access_key_secret" TEXT NOT NULL,
    "security_token" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "retired_at" TIMESTAMPTZ(3),

    CONSTRAINT "account_credentials_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "account_credentials_user_id_id_idx" ON "account_credentials"("user_id", "id");

-- AddForeignKey
ALTER TABLE "account_credentials" ADD CONSTRAINT "account_credentials_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "account"("user_id") ON DELETE CASCADE ON UPDATE CASCADE;
