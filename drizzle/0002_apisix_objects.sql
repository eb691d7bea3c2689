CREATE SEQUENCE "public"."apisix_object_index" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
CREATE TABLE "apisix_objects" (
	"kind" text NOT NULL,
	"id" text NOT NULL,
	"value" jsonb NOT NULL,
	"created_index" integer NOT NULL,
	"modified_index" integer NOT NULL,
	CONSTRAINT "apisix_objects_kind_id_pk" PRIMARY KEY("kind","id")
);
