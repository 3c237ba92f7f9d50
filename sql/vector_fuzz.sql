-- Random text thrown at the vector input function: every string must either
-- be rejected with an ordinary error or read back to the same value; none may
-- crash the backend.

SELECT setseed(0.42);
CREATE FUNCTION fuzz_vector_text(tries int) RETURNS TABLE (accepted int, rejected int, bad_round_trips int)
LANGUAGE plpgsql AS $$
DECLARE
	alphabet text := '[[]],,,.-+eE0123456789 naifx';
	s text;
	v vector;
BEGIN
	accepted := 0; rejected := 0; bad_round_trips := 0;
	FOR i IN 1 .. tries LOOP
		s := CASE WHEN random() < 0.5 THEN '[' ELSE '' END;
		FOR j IN 1 .. (random() * 24)::int LOOP
			s := s || substr(alphabet, 1 + (random() * (length(alphabet) - 1))::int, 1);
		END LOOP;
		IF random() < 0.5 THEN s := s || ']'; END IF;
		BEGIN
			v := s::vector;
			accepted := accepted + 1;
			IF v::text::vector <> v THEN
				bad_round_trips := bad_round_trips + 1;
			END IF;
		EXCEPTION WHEN invalid_text_representation OR data_exception
				   OR program_limit_exceeded THEN
			rejected := rejected + 1;
		END;
	END LOOP;
	RETURN NEXT;
END $$;
SELECT accepted > 0 AS some_accepted, rejected > 0 AS some_rejected,
	   accepted + rejected AS total, bad_round_trips
FROM fuzz_vector_text(20000);
DROP FUNCTION fuzz_vector_text(int);
