-- The InstallMonitoringAgent call an attempt was one instance of (driver install-monitoring-agent).
ALTER TABLE "install_attempt" ADD COLUMN "call_id" UUID;

-- The instances of one call, for its replay after its worker died.
CREATE INDEX "install_attempt_call_id_idx" ON "install_attempt"("call_id");
