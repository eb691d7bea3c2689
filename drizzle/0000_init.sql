CREATE TABLE "admin_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"key_hash" text NOT NULL,
	"source" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "admin_keys_key_hash_unique" UNIQUE("key_hash")
);
--> statement-breakpoint
CREATE TABLE "gateway_groups" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"labels" jsonb,
	"stream_port_ranges" jsonb NOT NULL,
	"config" jsonb NOT NULL,
	"config_version" integer DEFAULT 0 NOT NULL,
	"token_hash" text,
	"previous_token_hash" text,
	"previous_token_expires_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "gateway_groups_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "published_services" (
	"gateway_group_id" text NOT NULL,
	"service_id" text NOT NULL,
	"version_id" text NOT NULL,
	"runtime_nodes" jsonb,
	"published_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "published_services_gateway_group_id_service_id_pk" PRIMARY KEY("gateway_group_id","service_id")
);
--> statement-breakpoint
CREATE TABLE "service_versions" (
	"id" text PRIMARY KEY NOT NULL,
	"gateway_group_id" text NOT NULL,
	"service_id" text NOT NULL,
	"seq" integer NOT NULL,
	"version" text NOT NULL,
	"snapshot" jsonb NOT NULL,
	"action" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "services" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"spec" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "services_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "stream_routes" (
	"id" text PRIMARY KEY NOT NULL,
	"service_id" text NOT NULL,
	"name" text NOT NULL,
	"spec" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "published_services" ADD CONSTRAINT "published_services_gateway_group_id_gateway_groups_id_fk" FOREIGN KEY ("gateway_group_id") REFERENCES "public"."gateway_groups"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "published_services" ADD CONSTRAINT "published_services_version_id_service_versions_id_fk" FOREIGN KEY ("version_id") REFERENCES "public"."service_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "service_versions" ADD CONSTRAINT "service_versions_gateway_group_id_gateway_groups_id_fk" FOREIGN KEY ("gateway_group_id") REFERENCES "public"."gateway_groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stream_routes" ADD CONSTRAINT "stream_routes_service_id_services_id_fk" FOREIGN KEY ("service_id") REFERENCES "public"."services"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "service_versions_label" ON "service_versions" USING btree ("gateway_group_id","service_id","version");--> statement-breakpoint
CREATE UNIQUE INDEX "service_versions_seq" ON "service_versions" USING btree ("gateway_group_id","service_id","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "stream_routes_service_name" ON "stream_routes" USING btree ("service_id","name");