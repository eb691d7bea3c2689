CREATE TABLE "gateway_instances" (
	"group_id" text NOT NULL,
	"id" text NOT NULL,
	"hostname" text DEFAULT '' NOT NULL,
	"address" text DEFAULT '' NOT NULL,
	"runtime" text DEFAULT '' NOT NULL,
	"sluice_version" text DEFAULT '' NOT NULL,
	"config_version" integer DEFAULT -1 NOT NULL,
	"config_error" jsonb,
	"listeners" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"health" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"active_connections" integer DEFAULT 0 NOT NULL,
	"first_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_heartbeat_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "gateway_instances_group_id_id_pk" PRIMARY KEY("group_id","id")
);
--> statement-breakpoint
ALTER TABLE "gateway_instances" ADD CONSTRAINT "gateway_instances_group_id_gateway_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."gateway_groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "gateway_instances_last_heartbeat_idx" ON "gateway_instances" USING btree ("last_heartbeat_at");