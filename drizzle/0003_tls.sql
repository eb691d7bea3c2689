CREATE TABLE "ssls" (
	"id" text PRIMARY KEY NOT NULL,
	"gateway_group_id" text NOT NULL,
	"spec" jsonb NOT NULL,
	"sealed_key" text NOT NULL,
	"sealed_keys" jsonb NOT NULL,
	"certificates" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "gateway_groups" ADD COLUMN "real_ip_from" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "ssls" ADD CONSTRAINT "ssls_gateway_group_id_gateway_groups_id_fk" FOREIGN KEY ("gateway_group_id") REFERENCES "public"."gateway_groups"("id") ON DELETE cascade ON UPDATE no action;